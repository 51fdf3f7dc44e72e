"""The networks: slim-style layers (:mod:`.layers`) and the encoders ``mu`` and generators by
name (:mod:`.models`)."""
