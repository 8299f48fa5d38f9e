// C-simulation stand-in for Vitis HLS's ap_axi_sdata.h (not shipped with hls4ml): hls::axis with the
// fields flow_axis_top.h uses (data, keep, strb, last), so g++ can run the stream top here.
// Vitis HLS builds use its own header; this folder is only on the include path of csim builds.
#ifndef FLOW_CSIM_AP_AXI_SDATA_H_
#define FLOW_CSIM_AP_AXI_SDATA_H_

#include <cstddef>

#include "ap_int.h"

namespace hls {
template <typename TData, std::size_t WUser, std::size_t WId, std::size_t WDest> struct axis {
    TData data;
    ap_uint<(TData::width + 7) / 8> keep;
    ap_uint<(TData::width + 7) / 8> strb;
    ap_uint<1> last;
};
} // namespace hls

#endif
