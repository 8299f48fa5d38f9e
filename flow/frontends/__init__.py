"""Model frontends: QONNX graph rewrites the build needs, and (Q)Keras models through hls4ml's Keras frontend."""
