/* mg_gan_model.h: the GAN's two networks (architecture in medgen.h, mg_gan_config), as forward code over
 * mg_engine.h ops. Parameters are named like the PyTorch modules of Testing/Python/gan_reference.py, so either side
 * loads the other's weights by name.
 *
 * Generator (L = log2(image_size) - 2 blocks): z [n, latent] -> block 0: transposed conv 4x4 (stride 1, no bias)
 * from 1x1 to 4x4 -> batch norm -> ReLU; blocks 1..L-1: transposed conv 4x4 stride 2 pad 1 (no bias), batch norm,
 * ReLU, each doubling the size; output: transposed conv 4x4 stride 2 pad 1 (with bias) to the image channels, tanh.
 * Block i has width * min(8, 2^(L-1-i)) channels (dcgan-64: 512, 256, 128, 64). Class-conditional models use
 * conditional batch norm: no affine parameters of its own, per-class gain and shift rows instead.
 *   blocks.<i>.conv.weight [cin, cout, 4, 4]
 *   blocks.<i>.norm.weight, .bias [c] (unconditional) or blocks.<i>.norm.gain.weight, .shift.weight [classes, c]
 *   blocks.<i>.norm.running_mean, .running_var [c] (buffers)
 *   output.weight [width, channels, 4, 4], output.bias [channels]
 *
 * Discriminator: block 0: conv 4x4 stride 2 pad 1 from the image channels to width; blocks 1..L-1: conv 4x4 stride
 * 2 pad 1 doubling the channels up to 8 * width; each conv spectrally normalized, with bias, then LeakyReLU 0.2;
 * at 4x4, output: a spectrally normalized conv 4x4 (valid, with bias) to one score. Class-conditional models add
 * the projection term: score += <embed[y], sum over positions of the last block's features>.
 *   blocks.<i>.conv.weight_orig [cout, cin, 4, 4], .weight_u [cout], .weight_v [cin*16] (buffers), .bias [cout]
 *   output.weight_orig [1, c, 4, 4], output.weight_u [1], output.weight_v [c*16], output.bias [1]
 *   embed.weight [classes, c] (conditional only)
 *
 * Initialization (DCGAN): conv weights N(0, 0.02), biases 0; batch-norm gains N(1, 0.02) (conditional: every class
 * row), shifts 0; the projection embedding N(0, 0.02); u and v normal, then normalized (PyTorch's). */
#ifndef MG_GAN_MODEL_H
#define MG_GAN_MODEL_H

#include "mg_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MG_GAN_BN_MOMENTUM 0.1
#define MG_GAN_BN_EPS 1e-5
#define MG_GAN_SN_EPS 1e-12
#define MG_GAN_LEAKY_SLOPE 0.2

typedef struct mg_generator mg_generator;
typedef struct mg_discriminator mg_discriminator;

/* Check config (mg_gan_config_check), create the parameters in ctx's persistent memory and initialize them from
 * ctx's random stream. NULL on failure, with the message in ctx. The tensors go with the context; free the host
 * structs with the matching _free. */
mg_generator *mg_generator_new(mg_ctx *ctx, const mg_gan_config *config);
void mg_generator_free(mg_generator *g);
mg_params *mg_generator_params(const mg_generator *g);
/* The running-statistics momentum of the next training-mode forwards (MG_GAN_BN_MOMENTUM until changed; in
 * [0, 1]): 1/(k+1) for batch k from zeroed statistics averages the batches' statistics. */
void mg_generator_set_bn_momentum(mg_generator *g, double momentum);
mg_discriminator *mg_discriminator_new(mg_ctx *ctx, const mg_gan_config *config);
void mg_discriminator_free(mg_discriminator *d);
mg_params *mg_discriminator_params(const mg_discriminator *d);

/* z [n, latent_dim], labels [n] int32 in [0, num_classes) (NULL for an unconditional model; required by a
 * conditional one) -> images [n, channels, S, S] in (-1, 1). training: batch statistics (and the running ones
 * updated with the momentum above); otherwise the running statistics. */
mg_tensor *mg_generator_forward(mg_ctx *ctx, mg_generator *g, mg_tensor *z, mg_tensor *labels, bool training);
/* x [n, channels, S, S], labels as above -> scores [n, 1]. training: one power iteration per spectrally
 * normalized weight first (u and v updated), as PyTorch's modules in training mode; otherwise none. */
mg_tensor *mg_discriminator_forward(mg_ctx *ctx, mg_discriminator *d, mg_tensor *x, mg_tensor *labels, bool training);

/* The configuration as one line of JSON (checkpoint metadata "model.config"), and back; parsing checks every
 * field and names the bad one. Returns the length written (like snprintf). */
int mg_gan_config_to_json(const mg_gan_config *config, char *buf, size_t size);
mg_status mg_gan_config_from_json(const char *json, mg_gan_config *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
