"""The HRNet family. Importing this package registers every model in ``hrnet_mm.MODELS``."""
from .arch import ARCH_PRESETS, HRNetArch, StageSpec, arch_from_extra
from .heads import HRNetClassifier, HRNetClsHead
from .hrnet import HRModule, HRNet
from .lite_hrnet import LiteHRNet
from .necks import HRNetV2Neck, HRNetV2pNeck
from .resample import Upsample

__all__ = ['ARCH_PRESETS', 'HRNetArch', 'StageSpec', 'arch_from_extra', 'HRModule', 'HRNet',
           'LiteHRNet', 'HRNetV2Neck', 'HRNetV2pNeck', 'HRNetClsHead', 'HRNetClassifier',
           'Upsample']
