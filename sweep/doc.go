// Package sweep runs hyper-parameter searches (random, grid, ASHA) and k-fold
// cross-validations as plans of the workflow module.
package sweep
