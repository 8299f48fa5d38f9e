// The stream side of flow's HLS IP: AXI-Stream words in, the hls4ml model, AXI-Stream words out.
//
// One value per stream word: the model type's W bits, sign-extended (ap_int) or zero-extended
// (ap_uint) into the word's container; samples back to back; TLAST on the last word of the batch.
// flow writes firmware/flow_axis_top.cpp, whose top function calls these helpers once per sample
// for n_samples samples (an AXI-Lite register), matching bundle/driver.py's stream format.
#ifndef FLOW_AXIS_TOP_H_
#define FLOW_AXIS_TOP_H_

#include "ap_axi_sdata.h"
#include "hls_stream.h"

namespace flow {

// bits_t: ap_int<W> or ap_uint<W>, the value's W bits as the integer the word carries
template <class bits_t, class value_t, class word_t> void from_word(const word_t &word, value_t &value) {
    value.range(bits_t::width - 1, 0) = word.data.range(bits_t::width - 1, 0);
}

template <class bits_t, class value_t, class word_t> word_t to_word(const value_t &value, bool last) {
    word_t word;
    bits_t bits;
    bits.range(bits_t::width - 1, 0) = value.range(bits_t::width - 1, 0);
    word.data = bits;  // extends to the container by bits_t's signedness
    word.keep = -1;
    word.strb = -1;
    word.last = last;
    return word;
}

// io_stream models: packets of packet_t::size values
template <class bits_t, class packet_t, unsigned N, class word_t>
void read_packets(hls::stream<word_t> &words, hls::stream<packet_t> &packets) {
    for (unsigned i = 0; i < N / packet_t::size; i++) {
        packet_t packet;
        for (unsigned j = 0; j < packet_t::size; j++) {
            #pragma HLS PIPELINE
            from_word<bits_t>(words.read(), packet[j]);
        }
        packets.write(packet);
    }
}

template <class bits_t, class packet_t, unsigned N, class word_t>
void write_packets(hls::stream<packet_t> &packets, hls::stream<word_t> &words, bool last_sample) {
    for (unsigned i = 0; i < N / packet_t::size; i++) {
        packet_t packet = packets.read();
        for (unsigned j = 0; j < packet_t::size; j++) {
            #pragma HLS PIPELINE
            bool last = last_sample && i + 1 == N / packet_t::size && j + 1 == packet_t::size;
            words.write(to_word<bits_t, typename packet_t::value_type, word_t>(packet[j], last));
        }
    }
}

// io_parallel models: plain arrays
template <class bits_t, class value_t, unsigned N, class word_t> void read_array(hls::stream<word_t> &words, value_t values[N]) {
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE
        from_word<bits_t>(words.read(), values[i]);
    }
}

template <class bits_t, class value_t, unsigned N, class word_t>
void write_array(const value_t values[N], hls::stream<word_t> &words, bool last_sample) {
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE
        words.write(to_word<bits_t, value_t, word_t>(values[i], last_sample && i + 1 == N));
    }
}

} // namespace flow

#endif
