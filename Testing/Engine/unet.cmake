# The UNet noise predictor: configuration, presets and initialization (test_unet_config), and parity with PyTorch:
# unet_reference.py writes one fixture per configuration in a CTest fixture setup test, test_unet_parity compares
# forward and every gradient. Both must run in CI: without python3-torch the setup fails, never skips.
medgen_add_test(test_unet_config test_unet_config.c LABELS unet)

# Small configurations that still cover every path: conditional with two residual blocks per level, attention at
# level 1 and the middle, 2 heads and 2 input channels; unconditional over 3 levels with attention at the full
# resolution only; one level (no resampling) with 3 heads and a single class.
string(CONCAT MEDGEN_UNET_CONFIG_cond
       "{\"image_size\":16,\"in_channels\":2,\"base_channels\":16,\"levels\":2,\"channel_mult\":[1,2],"
       "\"res_blocks\":2,\"attention\":[false,true],\"mid_attention\":true,\"head_channels\":16,\"groups\":4,"
       "\"temb_channels\":32,\"dropout\":0.1,\"num_classes\":3}")
string(CONCAT MEDGEN_UNET_CONFIG_uncond
       "{\"image_size\":16,\"in_channels\":1,\"base_channels\":8,\"levels\":3,\"channel_mult\":[1,2,3],"
       "\"res_blocks\":1,\"attention\":[true,false,false],\"mid_attention\":false,\"head_channels\":8,"
       "\"groups\":4,\"temb_channels\":24,\"dropout\":0,\"num_classes\":0}")
string(CONCAT MEDGEN_UNET_CONFIG_flat
       "{\"image_size\":8,\"in_channels\":1,\"base_channels\":12,\"levels\":1,\"channel_mult\":[2],"
       "\"res_blocks\":1,\"attention\":[true],\"mid_attention\":true,\"head_channels\":8,\"groups\":3,"
       "\"temb_channels\":16,\"dropout\":0,\"num_classes\":1}")

# One Python run writes all three (PyTorch takes seconds to start).
set(MEDGEN_UNET_FIXTURES "")
set(MEDGEN_UNET_FIXTURE_ARGS "")
foreach(case cond uncond flat)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/unet_fixture_${case}.safetensors)
  list(APPEND MEDGEN_UNET_FIXTURES ${out})
  list(APPEND MEDGEN_UNET_FIXTURE_ARGS --config ${MEDGEN_UNET_CONFIG_${case}} --out ${out})
endforeach()
if(MedGen_PYTHON)
  add_test(NAME unet_fixtures
           COMMAND ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/unet_reference.py fixture
                   ${MEDGEN_UNET_FIXTURE_ARGS})
else()
  add_test(NAME unet_fixtures
           COMMAND sh -c "echo 'no python3 in /usr/bin: run the README test command, which installs python3-torch' >&2
                          exit 1")
endif()
set_tests_properties(unet_fixtures PROPERTIES FIXTURES_SETUP unet_fixtures LABELS "engine;parity;unet" TIMEOUT 120)

medgen_add_test(test_unet_parity test_unet_parity.c LABELS "parity;unet" ARGS ${MEDGEN_UNET_FIXTURES})
set_tests_properties(test_unet_parity PROPERTIES FIXTURES_REQUIRED unet_fixtures TIMEOUT 60)
