"""Motion layer: optical flow, strain, key frames, descriptors, visualisation, feature preparation."""
