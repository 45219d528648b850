// Intentionally empty: node-llama-cpp finds no getBinsDir() here and treats the GPU build as
// absent. See README.md.
