"""Training: the state and the one step builder (:mod:`.training`), the loop (:mod:`.trainer`),
checkpoints, TensorBoard summaries and PNG grids, generator inputs (:mod:`.sampling`) and
reading runs back (:mod:`.runs`)."""
