# The GAN's two networks: configuration, presets, initialization and input checks (test_gan_config), and parity
# with PyTorch: gan_reference.py writes one fixture per configuration in a CTest fixture setup test,
# test_gan_parity compares forward, every gradient, the running statistics and the power iteration's vectors.
# Both must run in CI: without python3-torch the setup fails, never skips.

# Small configurations that cover every path: unconditional at 32x32; class-conditional (conditional batch norm,
# projection head) with 2 channels and a width that is not a power of two; 64x64 (four blocks) with 3 channels.
set(MEDGEN_GAN_CONFIG_uncond "{\"image_size\":32,\"channels\":1,\"latent_dim\":16,\"width\":8,\"num_classes\":0}")
set(MEDGEN_GAN_CONFIG_cond "{\"image_size\":32,\"channels\":2,\"latent_dim\":10,\"width\":6,\"num_classes\":3}")
set(MEDGEN_GAN_CONFIG_wide "{\"image_size\":64,\"channels\":3,\"latent_dim\":8,\"width\":4,\"num_classes\":0}")

# One Python run writes all three (PyTorch takes seconds to start).
set(MEDGEN_GAN_FIXTURES "")
set(MEDGEN_GAN_FIXTURE_ARGS "")
foreach(case uncond cond wide)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gan_fixture_${case}.safetensors)
  list(APPEND MEDGEN_GAN_FIXTURES ${out})
  list(APPEND MEDGEN_GAN_FIXTURE_ARGS --config ${MEDGEN_GAN_CONFIG_${case}} --out ${out})
endforeach()
if(MedGen_PYTHON)
  add_test(NAME gan_fixtures
           COMMAND ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/gan_reference.py fixture
                   ${MEDGEN_GAN_FIXTURE_ARGS})
else()
  add_test(NAME gan_fixtures
           COMMAND sh -c "echo 'no python3 in /usr/bin: run the README test command, which installs python3-torch' >&2
                          exit 1")
endif()
set_tests_properties(gan_fixtures PROPERTIES FIXTURES_SETUP gan_fixtures LABELS "engine;parity;gan" TIMEOUT 120)

# test_gan_config compares the dcgan-64 parameter counts with torch's, from the first fixture's metadata.
list(GET MEDGEN_GAN_FIXTURES 0 MEDGEN_GAN_FIRST_FIXTURE)
medgen_add_test(test_gan_config test_gan_config.c LABELS gan ARGS ${MEDGEN_GAN_FIRST_FIXTURE})
set_tests_properties(test_gan_config PROPERTIES FIXTURES_REQUIRED gan_fixtures TIMEOUT 60)
medgen_add_test(test_gan_parity test_gan_parity.c LABELS "parity;gan" ARGS ${MEDGEN_GAN_FIXTURES})
set_tests_properties(test_gan_parity PROPERTIES FIXTURES_REQUIRED gan_fixtures TIMEOUT 60)
