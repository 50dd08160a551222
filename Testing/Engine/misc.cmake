# Resampling, concat, embeddings, reductions and losses.
medgen_add_test(test_grad_misc test_grad_misc.c F64 LABELS gradcheck)
medgen_add_test(test_grad_loss test_grad_loss.c F64 LABELS gradcheck)
medgen_add_test(test_misc_values test_misc_values.c)
