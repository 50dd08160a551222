medgen_add_test(test_grad_norm test_grad_norm.c F64 LABELS gradcheck)
medgen_add_test(test_grad_attention test_grad_attention.c F64 LABELS gradcheck)
medgen_add_test(test_norm_stats test_norm_stats.c)
