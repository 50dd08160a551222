medgen_add_test(test_grad_conv test_grad_conv.c F64 LABELS gradcheck)
medgen_add_test(test_conv_reference test_conv_reference.c LABELS reference)
