/* mg_unet.h: the UNet noise predictor of diffusion models (architecture in medgen.h, mg_unet_config), as forward
 * code over mg_engine.h ops. Parameters are named like PyTorch modules ("down.1.res.0.conv1.weight") so that
 * checkpoints read naturally and the PyTorch reference (Testing/Python/unet_reference.py) loads them by name. */
#ifndef MG_UNET_H
#define MG_UNET_H

#include "mg_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mg_unet mg_unet;

/* Checks config, creates the parameters in ctx's persistent memory and initializes them from ctx's random
 * stream (PyTorch's defaults; the last conv of each residual block, each attention output projection and the
 * output conv start at zero, as in MONAI, so every block starts as the identity). NULL on failure, with the
 * message in ctx. Free the host struct with mg_unet_free (the tensors go with the context). */
mg_unet *mg_unet_new(mg_ctx *ctx, const mg_unet_config *config);
void mg_unet_free(mg_unet *u);
mg_params *mg_unet_params(const mg_unet *u);
const mg_unet_config *mg_unet_config_of(const mg_unet *u);

/* x [n, in_channels, S, S], t [n] timesteps (reals, 0 to T-1), labels [n] int32 in [0, num_classes] (num_classes
 * is "no class") or NULL (unconditional model; for a conditional model NULL means "no class" for all) ->
 * the prediction [n, in_channels, S, S]. training enables dropout (drawn from ctx's stream). */
mg_tensor *mg_unet_forward(mg_ctx *ctx, mg_unet *u, mg_tensor *x, mg_tensor *t, mg_tensor *labels, bool training);

/* The configuration as one line of JSON (for checkpoint metadata "model.config"), and back. Parsing checks
 * every field (mg_unet_config_check) and names the bad one. Returns the length written (like snprintf). */
int mg_unet_config_to_json(const mg_unet_config *config, char *buf, size_t size);
mg_status mg_unet_config_from_json(const char *json, mg_unet_config *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
