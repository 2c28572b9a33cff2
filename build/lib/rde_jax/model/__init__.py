"""The RDE-VOS network in Flax: pure modules and functions, no state kept, no I/O.

`architectures` (every width, `Arch`), `network` (`RDEVOS`, one method per stage), `layers`,
`blocks`, `encoders`, `sam`, `memory_read` (affinity, top-k read, soft aggregation),
`imagenet` (input normalisation).
"""
