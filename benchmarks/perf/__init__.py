"""Speed and cost of merkit's stages (face, flow, SynthME, training, latency, LOSO, spotting, readers)."""
