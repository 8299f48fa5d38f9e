// Sparse dense kernel over level codes plus relative indices (format: hls/README.md).
//
// nnet::SparseDense fills the dense `kernel` slot of a dense config, so hls4ml's io_stream
// convolutions keep their line buffer and only the per-pixel product changes. Fully connected
// layers call nnet::sparse_dense (array or stream overload): Vitis's nnet::dense for streams calls
// its own kernels directly and would ignore the slot.
// `entries` is the layer's entry array, [n_pe][n_entries], each word (code << index_bits) | gap.
//
// Schedule, one call: the Entries loop (n_entries iterations at II=1, all PEs in each) and the
// Rows loop (n_rows iterations at II=1), plus the two pipelines' depths. flow/cost/kernels.py
// prices exactly this; tests/test_sparse_schedule.py counts it in an instrumented csim build.
#ifndef NNET_SPARSE_H_
#define NNET_SPARSE_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_mult.h"

#ifdef FLOW_COUNT_SPARSE_LOOPS
#include <cstdio>
#include <typeinfo>
#endif

namespace nnet {

// where the entry ROMs live, as memory.json chose (flow/sparse/memory.py)
enum sparse_storage { sparse_bram = 0, sparse_lutram = 1 };

struct sparse_dense_config {
    static const unsigned n_in = 10;
    static const unsigned n_out = 10;
    static const unsigned n_pe = 1;
    static const unsigned n_entries = 1; // per PE, fillers included
    static const unsigned n_rows = 10;   // output rows per PE; row table padding holds n_out
    static const unsigned index_bits = 4; // the encoder keeps 2**index_bits - 1 <= n_in
    static const unsigned code_bits = 2;
    static const unsigned n_levels = 4;
    static const unsigned storage = sparse_bram;

    typedef float accum_t;
    typedef float bias_t;
    typedef ap_uint<6> weight_t; // one entry word
    typedef float level_t;
    typedef ap_uint<4> row_t;
};

// bits of an unsigned counter that holds 0..n
constexpr unsigned sparse_counter_bits(unsigned n) { return n < 2 ? 1 : 1 + sparse_counter_bits(n / 2); }

#ifdef FLOW_COUNT_SPARSE_LOOPS
// csim only: iterations of the kernel's pipelined loops, printed per layer config at exit
template <typename CONFIG_T> struct SparseLoopCount {
    unsigned long calls = 0, entries = 0, rows = 0;
    ~SparseLoopCount() {
        std::printf("flow-sparse-loops %s calls=%lu entries=%lu rows=%lu\n", typeid(CONFIG_T).name(), calls,
                    entries, rows);
    }
};
#define FLOW_SPARSE_COUNT(field) (loop_count.field++)
#else
#define FLOW_SPARSE_COUNT(field)
#endif

template <class data_T, class res_T, typename CONFIG_T> class SparseDense {
    // a PE's last visited position (local_row, column), column from -1 before the first entry
    typedef ap_int<sparse_counter_bits(2 * CONFIG_T::n_in) + 1> column_t;
    typedef ap_uint<sparse_counter_bits(CONFIG_T::n_rows)> local_row_t;

  public:
    static void dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                      typename CONFIG_T::weight_t entries[CONFIG_T::n_pe * CONFIG_T::n_entries],
                      typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        #pragma HLS INLINE OFF
        // every PE reads any input in the same cycle
        #pragma HLS ARRAY_PARTITION variable=data complete
        // one ROM per PE, as memory.json counts them
        #pragma HLS ARRAY_PARTITION variable=entries block factor=CONFIG_T::n_pe
        // BIND_STORAGE takes its impl as a literal; constant conditions select it (hls4ml's dense_resource does the same)
        if (CONFIG_T::storage == sparse_lutram) {
            #pragma HLS BIND_STORAGE variable=entries type=rom_1p impl=lutram
        } else {
            #pragma HLS BIND_STORAGE variable=entries type=rom_1p impl=bram
        }
        #pragma HLS ARRAY_PARTITION variable=biases complete
        // the config's tables as local constants a partition pragma certainly applies to: every PE
        // looks up a level, and (n_pe > 1) its row's output, in the same cycle
        typename CONFIG_T::level_t levels[CONFIG_T::n_levels];
        #pragma HLS ARRAY_PARTITION variable=levels complete
        for (unsigned code = 0; code < CONFIG_T::n_levels; code++) {
            #pragma HLS UNROLL
            levels[code] = CONFIG_T::levels[code];
        }
        typename CONFIG_T::row_t rows[CONFIG_T::n_pe][CONFIG_T::n_rows];
        #pragma HLS ARRAY_PARTITION variable=rows dim=1 complete
        for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
            #pragma HLS UNROLL
            for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
                #pragma HLS UNROLL
                rows[pe][r] = CONFIG_T::n_pe == 1 ? typename CONFIG_T::row_t(r) : CONFIG_T::rows[pe * CONFIG_T::n_rows + r];
            }
        }
#ifdef FLOW_COUNT_SPARSE_LOOPS
        static SparseLoopCount<CONFIG_T> loop_count;
        FLOW_SPARSE_COUNT(calls);
#endif

        // finished rows, written once each as the PE's walk leaves them
        typename CONFIG_T::accum_t acc[CONFIG_T::n_pe][CONFIG_T::n_rows];
        #pragma HLS ARRAY_PARTITION variable=acc dim=1 complete
        // per-PE state in registers: the row being summed is never read back from acc
        column_t column[CONFIG_T::n_pe];
        local_row_t row[CONFIG_T::n_pe];
        typename CONFIG_T::accum_t running[CONFIG_T::n_pe];
        #pragma HLS ARRAY_PARTITION variable=column complete
        #pragma HLS ARRAY_PARTITION variable=row complete
        #pragma HLS ARRAY_PARTITION variable=running complete
        for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
            #pragma HLS UNROLL
            column[pe] = -1;
            row[pe] = 0;
            running[pe] = 0;
        }

        const unsigned filler = (1u << CONFIG_T::index_bits) - 1;
    Entries:
        for (unsigned e = 0; e < CONFIG_T::n_entries; e++) {
            #pragma HLS PIPELINE II=1
            FLOW_SPARSE_COUNT(entries);
            for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
                #pragma HLS UNROLL
                const typename CONFIG_T::weight_t word = entries[pe * CONFIG_T::n_entries + e];
                const ap_uint<CONFIG_T::index_bits> gap = word.range(CONFIG_T::index_bits - 1, 0);
                const bool is_filler = gap == filler;
                // an advance is at most 2**k - 1 <= n_in, so a position moves at most one row: compare
                // and subtract, no division
                column_t next = column[pe] + (is_filler ? column_t(filler) : column_t(gap + 1));
                if (next >= column_t(CONFIG_T::n_in)) {
                    next -= CONFIG_T::n_in;
                    if (row[pe] < CONFIG_T::n_rows) { // padding fillers walk past the last row
                        acc[pe][row[pe]] = running[pe];
                        row[pe]++;
                    }
                    running[pe] = 0;
                }
                column[pe] = next;
                if (!is_filler) {
                    const typename CONFIG_T::level_t weight = levels[unsigned(word >> CONFIG_T::index_bits)];
                    running[pe] += static_cast<typename CONFIG_T::accum_t>(
                        CONFIG_T::template product<data_T, typename CONFIG_T::level_t>::product(
                            data[unsigned(next)], weight));
                }
            }
        }

    Rows:
        for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
            #pragma HLS PIPELINE II=1
            FLOW_SPARSE_COUNT(rows);
            for (unsigned pe = 0; pe < CONFIG_T::n_pe; pe++) {
                #pragma HLS UNROLL
                // rows before the walk's last one are in acc, that one in its register, later ones empty
                const typename CONFIG_T::accum_t sum =
                    r < row[pe] ? acc[pe][r] : (r == row[pe] ? running[pe] : typename CONFIG_T::accum_t(0));
                // one PE owns every row in order: no row table to store (flow's memory count assumes this);
                // with several, any PE may write any output (a P:1 mux per output, priced by the estimator)
                const unsigned out = unsigned(rows[pe][r]);
                if (out < CONFIG_T::n_out) {
                    // the same sum as dense_latency's bias + products: accum_t addition is exact or wraps
                    const typename CONFIG_T::accum_t total = static_cast<typename CONFIG_T::accum_t>(biases[out]) + sum;
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
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
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
