"""Scoring: a trained run at work - whole galleries scored, albums, similar photos, one taste.

Python API (each module imports TensorFlow only when imported itself, so this package does not):

- :class:`scoring.scorer.Scorer` - score and embed photos from a notebook or a service;
- :func:`scoring.gallery.score_gallery` - every image of a gallery into a resumable scores table;
- :func:`scoring.table.read_scores` - a finished scores table and its embeddings;
- :func:`scoring.albums.curate` - the best of a scored gallery as an album;
- :func:`scoring.similar.similar` - the photos of a scored gallery most like a given one;
- :func:`scoring.personalize.personalize` - a run's head refitted to one person's comparisons;
- :func:`scoring.export.export_savedmodel` - a run as a TensorFlow SavedModel for serving.
"""
