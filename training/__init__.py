"""Training: crowd scores -> a beauty-scoring network, its model card and its evaluation.

Python API (each module imports TensorFlow only when imported itself, so this package does not):

- :func:`training.run.train` - ``train(workspace, scores_path, name, **options) -> RunResult``;
- :func:`training.evaluate.evaluate` - ``evaluate(run_dir, truth=None) -> Evaluation``;
- :func:`training.predict.load_run` - a finished run's model and card.

What a trained run does afterwards (scoring galleries, albums, similar photos) is the
``scoring`` package's.
"""
