# The ops GAN training adds: spectral norm, augmentation, per-sample sums.
medgen_add_test(test_grad_gan_ops test_grad_gan_ops.c F64 LABELS gradcheck)
medgen_add_test(test_gan_ops_values test_gan_ops_values.c)
