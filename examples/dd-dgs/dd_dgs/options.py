"""The ``dgs`` stage's options (``-o dgs.KEY=VALUE``)."""

from pydantic import Field

from ddcore import Options


class DgsOptions(Options):
    model: str = Field("convnet", description="the classifier whose p(y|x) defines difficulty; trained on the real data and cached")
    epochs: int = Field(30, ge=1, description="its training epochs")
    bins: int = Field(10, ge=2, description="histogram bins on the transformed difficulty [0, 1]")
