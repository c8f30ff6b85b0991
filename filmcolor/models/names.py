"""The saved model names of the project's U-Nets (how load_model knows the architecture),
here so the registry reads them without importing numpy or Keras."""

UNET = "filmcolor_unet"
UNET_HINTS = "filmcolor_unet_hints"  # the same taking a hint map beside the gray picture
