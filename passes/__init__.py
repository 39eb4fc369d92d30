"""Graph passes over onnx-graphsurgeon graphs (installed as ``is_export.passes``)."""
