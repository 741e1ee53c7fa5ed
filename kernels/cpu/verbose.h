// EMBER_VERBOSE=1 (anything but empty or "0"): kernel dispatch logs its choices on stderr.
#pragma once

namespace ember::kernels {

bool dispatch_verbose();

}  // namespace ember::kernels
