"""People's Speech builder: long found audio + captions -> aligned, CER-graded <= 15 s utterances.

Modules, one per concern: `config`, `ingest`, `normalize`, `align_stage`, `segment`, `recognize`,
`grade`, `dedup`, `split`, `write`, `plots`, `pipeline` (the driver) and `cli`
(`python -m corpus peoples-speech build`).
"""
