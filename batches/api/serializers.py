"""The batch API's shapes (SPEC §4): the action inputs are the domain's (batches/inputs.py), read
by the action registry; the output shapes too (batches/shapes.py). Both are named here for the views."""

from ..inputs import (  # noqa: F401 -- the inputs are part of the API's shapes
    MAX_LINES,
    ApproveInput,
    ArrivalLineInput,
    ArriveInput,
    CodeRelatedField,
    DeclareInput,
    DisinfectInput,
    EditInput,
    LineInput,
    OptionalReasonInput,
    ReasonInput,
    ReleaseInput,
    SampleInput,
    TestResultInput,
)
from ..shapes import (  # noqa: F401 -- the output shapes are part of the API's shapes
    BATCH_LINES,
    BatchDetail,
    BatchSummary,
    DisinfectionOutput,
    EventOutput,
    LineOutput,
    MerchantRef,
    ResultOutput,
    SampleOutput,
    batch_detail_queryset,
    code_count_annotations,
    code_counts,
    detail_batch,
    line_output,
    render_detail,
    summary_output,
)
