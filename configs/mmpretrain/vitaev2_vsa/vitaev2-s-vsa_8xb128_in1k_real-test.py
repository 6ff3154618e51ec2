# Testing twin of vitaev2-s-vsa_8xb128_in1k.py: it also reports
# ImageNet-ReaL accuracy (Beyer et al. 2020, arXiv 2006.07159), the
# VSA paper's acc@RealTop-1 (arXiv 2204.08446).
# Put real.json from github.com/google-research/reassessed-imagenet at
# data/imagenet/real.json and run
#   mim test mmpretrain <this config> --checkpoint CKPT
# Keys: accuracy/top1, accuracy/top5 (original labels), real/top1,
# real/top5 and real/num_images (images with a non-empty ReaL label set).
_base_ = ['./vitaev2-s-vsa_8xb128_in1k.py']

test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(
        type='vsa_mm.ReaLAccuracy',
        real_json='data/imagenet/real.json',
        topk=(1, 5)),
]
