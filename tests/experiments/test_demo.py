"""The demo's experiment configs (`merkit demo`)."""

from merkit.experiments.config import config_from_dict


def test_demo_runs_mier_cvt_at_224(tmp_path):
    from merkit.experiments.demo import demo_configs

    configs = demo_configs(tmp_path)
    cfg = config_from_dict(configs["MiER-CvT"])
    assert cfg.model.name == "mier_cvt" and cfg.features.size == 224
    # the same prepared flow as STSTNet (one flow computation per sample for the whole demo)
    assert cfg.features.face_size == config_from_dict(configs["STSTNet"]).features.face_size
    assert cfg.protocol.select_on_test is False
