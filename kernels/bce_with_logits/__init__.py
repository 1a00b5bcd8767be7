"""bce_with_logits: the binary cross-entropy of logits x against targets t,

    l = (1 - t) softplus(x) + t softplus(-x),    softplus(x) = log(1 + exp(x)),

which is -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] written as two non-negative terms that neither
overflow nor cancel; its gradient with respect to x is gx = gy ((1 - t) sigmoid(x) - t sigmoid(-x)), which is
gy (sigmoid(x) - t) without the cancellation of sigmoid(x) - 1 for t = 1 (so a tiny gradient keeps its relative
precision too). With reduction 'mean' or 'sum'
the forward returns the mean or the sum of l as a 0-d array (added in double, in a fixed order) and the backward
takes that 0-d gy; with 'none' both are elementwise. x and t have one shape and one float dtype.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "forward": "(x, t, reduction)",
    "backward": "(x, t, gy, reduction)",
}
