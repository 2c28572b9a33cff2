"""Files in and out: `atomic` writes, `atomic_dir` (whole-directory swaps), `label_png` (label
maps, DAVIS palette), `video_reader` (frame folders, GIFs, video files), `overlay` (MP4/GIF
overlays) and `video_outputs` (the per-video writer every command uses)."""
