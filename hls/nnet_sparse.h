// Sparse dense kernel over level codes plus relative indices (format: hls/README.md).
//
// nnet::SparseDense fills the dense `kernel` slot of a dense config, so hls4ml's io_stream
// convolutions keep their line buffer and only the per-pixel product changes. Fully connected
// layers call nnet::sparse_dense (array or stream overload): Vitis's nnet::dense for streams calls
// its own kernels directly and would ignore the slot.
// `entries` is the layer's entry array, [n_pe][n_entries], each word (code << index_bits) | gap.
#ifndef NNET_SPARSE_H_
#define NNET_SPARSE_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_mult.h"

namespace nnet {

struct sparse_dense_config {
    static const unsigned n_in = 10;
    static const unsigned n_out = 10;
    static const unsigned n_pe = 1;
    static const unsigned n_entries = 1; // per PE, fillers included: the kernel's cycles per input vector
    static const unsigned n_rows = 10;   // output rows per PE; row table padding holds n_out
    static const unsigned index_bits = 4;
    static const unsigned code_bits = 2;

    typedef float accum_t;
    typedef float bias_t;
    typedef ap_uint<6> weight_t; // one entry word
    typedef float level_t;
    typedef ap_uint<4> row_t;
};

template <class data_T, class res_T, typename CONFIG_T> class SparseDense {
  public:
    static void dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                      typename CONFIG_T::weight_t entries[CONFIG_T::n_pe * CONFIG_T::n_entries],
                      typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        // every PE reads any input in the same cycle
        #pragma HLS ARRAY_PARTITION variable=data complete
        #pragma HLS ARRAY_RESHAPE variable=entries block factor=CONFIG_T::n_pe
        #pragma HLS BIND_STORAGE variable=entries type=rom_1p impl=bram

        typename CONFIG_T::accum_t acc[CONFIG_T::n_pe][CONFIG_T::n_rows];
        #pragma HLS ARRAY_PARTITION variable=acc dim=1 complete

        const unsigned filler = (1u << CONFIG_T::index_bits) - 1;

        for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
            #pragma HLS UNROLL
            for (unsigned row = 0; row < CONFIG_T::n_rows; row++) {
                acc[pe][row] = 0;
            }
            unsigned cursor = 0; // one past the last position visited
            unsigned row = 0;
            typename CONFIG_T::accum_t running = 0;
            for (unsigned e = 0; e < CONFIG_T::n_entries; e++) {
                #pragma HLS PIPELINE II=1
                const typename CONFIG_T::weight_t word = entries[pe * CONFIG_T::n_entries + e];
                const unsigned gap = word & filler;
                if (gap == filler) {
                    cursor += filler;
                    continue;
                }
                const unsigned position = cursor + gap;
                cursor = position + 1;
                // rows arrive in order, so a row's sum lives in a register until the next row starts
                const unsigned position_row = position / CONFIG_T::n_in;
                if (position_row != row) {
                    acc[pe][row] = running;
                    running = 0;
                    row = position_row;
                }
                const typename CONFIG_T::level_t weight = CONFIG_T::levels[word >> CONFIG_T::index_bits];
                running += static_cast<typename CONFIG_T::accum_t>(
                    CONFIG_T::template product<data_T, typename CONFIG_T::level_t>::product(
                        data[position % CONFIG_T::n_in], weight));
            }
            acc[pe][row] = running;
        }

        for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
            #pragma HLS UNROLL
            for (unsigned row = 0; row < CONFIG_T::n_rows; row++) {
                // one PE owns every row in order: no row table to store (flow's memory count assumes this)
                const unsigned out = CONFIG_T::n_pe == 1 ? row : unsigned(CONFIG_T::rows[pe * CONFIG_T::n_rows + row]);
                if (out < CONFIG_T::n_out) {
                    // the same sum as dense_latency's bias + products: accum_t addition is exact or wraps
                    const typename CONFIG_T::accum_t total =
                        static_cast<typename CONFIG_T::accum_t>(biases[out]) + acc[pe][row];
                    res[out] = cast<data_T, res_T, CONFIG_T>(total);
                }
            }
        }
    }
};

template <class data_T, class res_T, typename CONFIG_T>
void sparse_dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                  typename CONFIG_T::weight_t entries[CONFIG_T::n_pe * CONFIG_T::n_entries],
                  typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    #pragma HLS INLINE
    SparseDense<data_T, res_T, CONFIG_T>::dense(data, res, entries, biases);
}

template <class data_T, class res_T, typename CONFIG_T>
void sparse_dense(hls::stream<data_T> &data_stream, hls::stream<res_T> &res_stream,
                  typename CONFIG_T::weight_t entries[CONFIG_T::n_pe * CONFIG_T::n_entries],
                  typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    typename data_T::value_type data[CONFIG_T::n_in];
    typename res_T::value_type res[CONFIG_T::n_out];
    for (unsigned pack = 0; pack < CONFIG_T::n_in / data_T::size; pack++) {
        #pragma HLS PIPELINE
        const data_T values = data_stream.read();
        for (unsigned i = 0; i < data_T::size; i++) {
            #pragma HLS UNROLL
            data[pack * data_T::size + i] = values[i];
        }
    }
    SparseDense<typename data_T::value_type, typename res_T::value_type, CONFIG_T>::dense(data, res, entries, biases);
    for (unsigned pack = 0; pack < CONFIG_T::n_out / res_T::size; pack++) {
        #pragma HLS PIPELINE
        res_T values;
        PRAGMA_DATA_PACK(values)
        for (unsigned i = 0; i < res_T::size; i++) {
            #pragma HLS UNROLL
            values[i] = res[pack * res_T::size + i];
        }
        res_stream.write(values);
    }
}

} // namespace nnet

#endif
