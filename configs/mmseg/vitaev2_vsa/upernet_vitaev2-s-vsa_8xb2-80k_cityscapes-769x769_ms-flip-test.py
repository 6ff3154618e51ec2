# Multi-scale (x0.5-1.75) and flip testing of the config below: the paper's
# second mIoU column. Test only: mim test mmseg THIS_CONFIG ...
_base_ = ['./upernet_vitaev2-s-vsa_8xb2-80k_cityscapes-769x769.py']
model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
