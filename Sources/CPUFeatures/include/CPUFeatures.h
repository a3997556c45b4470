#ifndef PORTAL_CPU_FEATURES_H
#define PORTAL_CPU_FEATURES_H

/// Returns 1 when the CPU (and the OS, for the AVX register state) supports every
/// instruction-set feature the Vector kernels are compiled for: AVX, AVX2, FMA, F16C, BMI1/2,
/// MOVBE, LZCNT (x86-64-v3). This file is compiled for the baseline x86-64 ISA so that the
/// check itself runs on any CPU.
int portal_cpu_supports_x86_64_v3(void);

#endif
