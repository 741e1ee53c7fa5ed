# Cross-compiling for 64-bit ARM (Kunpeng/Phytium-class servers) with Debian's
# g++-aarch64-linux-gnu; tests run under qemu-user (`-cpu max` enables dotprod and fp16).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static;-L;/usr/aarch64-linux-gnu;-cpu;max)
# Debian ships GoogleTest as source for other architectures; build it from there.
set(EMBER_GTEST_FROM_SOURCE ON CACHE BOOL "" FORCE)
