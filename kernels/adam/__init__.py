"""adam: one Adam update of a parameter array and its running moments, in place."""
