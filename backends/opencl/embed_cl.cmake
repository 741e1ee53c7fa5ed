# Embeds OpenCL C sources into a C++ file at build time:
#   cmake -DOUT=<file.cpp> -DNAME=<variable> -DSOURCES="a.cl|b.cl" -P embed_cl.cmake
# The sources are concatenated in the order given (common.cl first) into one string,
# ember_opencl::<variable>.
string(REPLACE "|" ";" SOURCES "${SOURCES}")
set(body "// Generated from kernels/opencl/*.cl by backends/opencl/embed_cl.cmake. Do not edit.\n")
string(APPEND body "namespace ember_opencl {\nextern const char ${NAME}[];\nconst char ${NAME}[] =\n")
foreach(f ${SOURCES})
  file(READ ${f} text)
  get_filename_component(name ${f} NAME)
  string(APPEND body "    \"// ---- ${name}\\n\"\n    R\"ember_cl(${text})ember_cl\"\n")
endforeach()
string(APPEND body "    ;\n}  // namespace ember_opencl\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
