"""The running service: BentoML service, request/response models and model loading."""
