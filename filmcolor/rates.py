"""Adam with a learning-rate factor per variable: fine-tuning a pretrained encoder at a
tenth of its decoder's rate (Keras' optimizers take one rate for all).

Adam's step does not scale with the gradient, so scaling gradients cannot do this; the
factor multiplies the rate inside each variable's update. Works on every Keras backend
(the subclass is not one of the torch backend's fused optimizers, so it takes this path).
"""

from .models import import_keras

keras = import_keras()


class ScaledAdam(keras.optimizers.Adam):
    """`factors`: {variable path: factor of the learning rate}; other variables get 1."""

    def __init__(self, learning_rate=1e-3, factors=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.factors = dict(factors or {})

    def build(self, variables):
        super().build(variables)
        # by index: on TensorFlow update_step is handed the backend's variable, not Keras'
        self._factor_list = [self.factors.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor_list[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, factor)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "factors": self.factors}
