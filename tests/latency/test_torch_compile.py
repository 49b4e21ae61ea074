"""torch.compile takes a compiled module whole: one graph, no break, the same outputs. (The
aot_eager backend traces exactly what inductor would receive, without a C++ build in a test.)"""

from __future__ import annotations

from pathlib import Path

import torch

import nasblocks


def test_torch_compile_traces_a_compiled_module_in_one_graph(tiny_path: Path) -> None:
    model = nasblocks.build(str(tiny_path)).eval()
    x = torch.randn(2, 3, 16, 16)
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_count == 1 and explained.graph_break_count == 0
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.inference_mode():
        assert torch.allclose(compiled(x), model(x), atol=1e-6)
