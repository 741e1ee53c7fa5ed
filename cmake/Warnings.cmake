# ember_warnings: the warning set every target of ours compiles with.
add_library(ember_warnings INTERFACE)
target_compile_options(ember_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(EMBER_WERROR)
  target_compile_options(ember_warnings INTERFACE -Werror)
endif()
