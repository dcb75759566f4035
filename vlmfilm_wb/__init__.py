"""Notebook-driven workbench for vessel segmentation by flow matching with a VLM-conditioned FiLM UNet

Modules:

- `vlmfilm_wb.analysis`: The computations behind the experiment templates: sampler step curves, trajectory statistics, stage-ablation tables with paired comparisons.
- `vlmfilm_wb.audit`: What does the condition know? Per-feature variance, parse fallbacks, effective rank, pairwise cosines, and whether it predicts a baseline's errors.
- `vlmfilm_wb.checkpoint`: From a config or a checkpoint file to working parts: network, conditioning, strict loading, the evaluation Segmenter, first passes and priors.
- `vlmfilm_wb.cli`: The `vlmfilm-wb` console script: one entry point for data, profiles, training, evaluation and runs.
- `vlmfilm_wb.condition`: From profiles to the condition vector: the batch-independent `ConditionEncoder` and the FiLM modes on/off/shuffle/null.
- `vlmfilm_wb.config`: One run's configuration: the `RunConfig` sections, named presets, and the one step that resolves it.
- `vlmfilm_wb.core`: Settings, project paths, strict typed configs, atomic writes and the errors every module raises.
- `vlmfilm_wb.cross`: Cross-dataset evaluation: a proxy out-of-domain dataset (frames enlarged, shutters and borders drawn), the input scale for another dataset, and the in-domain vs out-of-domain table.
- `vlmfilm_wb.data`: Vessel datasets on disk: reading, checks, training patches with augmentation, and the dataset registry.
- `vlmfilm_wb.dataimport`: `vlmfilm-wb data import`: nnU-Net v2, Medical Segmentation Decathlon and plain folders into the workbench layout.
- `vlmfilm_wb.datamodule`: The Lightning data module of a run: balanced augmented training patches, whole validation images, each DDP rank its share.
- `vlmfilm_wb.evaluate`: Evaluate a checkpoint on a split: per-image CSV, summary JSON with means, pooled scores and 95 % CIs, prediction PNGs.
- `vlmfilm_wb.flow`: Flow matching for masks — binary discrete flow matching (DFM), continuous flow matching (CFM) and the supervised baseline — as one path object per flow, its loss, and seeded samplers.
- `vlmfilm_wb.fov`: The exposed field of an X-ray frame: a detector for black borders and collimator shutters, FOV-edge false positives, and synthetic shutters.
- `vlmfilm_wb.infer`: Whole-image inference: sampling inside Gaussian-blended sliding windows, one `Segmenter` for validation and evaluation alike.
- `vlmfilm_wb.junction`: Junction-aware FiLM gating: find vessel bifurcations in a probability map and switch FiLM off around them.
- `vlmfilm_wb.metrics`: Overlap scores, clDice, Betti-number errors, pooled scores and bootstrap confidence intervals for binary vessel masks.
- `vlmfilm_wb.model`: The FiLM UNet: time-conditioned residual blocks, FiLM heads on chosen decoder stages, named presets, and a gamma/beta recorder.
- `vlmfilm_wb.predict`: Segment frames that have no masks — folders, globs, PNG/JPEG/TIFF and DICOM (multi-frame XA cine) — with the evaluation Segmenter.
- `vlmfilm_wb.prior`: Training-time priors for refinement flows: the ground truth corrupted the way predictions are wrong.
- `vlmfilm_wb.profiles`: The image profile a VLM is asked for: schema, a parser that never raises, the feature vector, and the profiler interface.
- `vlmfilm_wb.qwen`: The Qwen2.5-VL profiler backend: lazy loading, pinned greedy batched generation, four feature modes, and a tiny random checkpoint for tests.
- `vlmfilm_wb.resume`: Stopping and resuming a training: Ctrl+C, atomic `last.ckpt`, and a resumed run that must compute what the interrupted one would have.
- `vlmfilm_wb.runs`: Experiments as one command: run folders, papermill execution of templates, sweeps, and one table of every run.
- `vlmfilm_wb.stats`: The offline `stats` profiler: deterministic image statistics mapped onto the profile schema.
- `vlmfilm_wb.store`: The content-addressed profile store (SQLite, WAL), the profile service that fills it, and the one profile-scope rule.
- `vlmfilm_wb.synthetic`: A seeded procedural X-ray coronary angiogram generator with exact masks: the embedded `synthetic_xca` dataset.
- `vlmfilm_wb.table`: The `table` profile backend: per-image values from a sidecar table (metadata, a control attribute) on the condition vector.
- `vlmfilm_wb.train`: The Lightning module and `train()` for a whole run: profiles and priors computed first, validation through the evaluation Segmenter, checkpoints that resume to the same weights.
- `vlmfilm_wb.viz`: Figures for runs (loss curves, predictions, trajectories, FiLM parameters) and the interactive explorer."""

__version__ = "0.1.0"
