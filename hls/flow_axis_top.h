// The stream side of flow's HLS IP: AXI-Stream words in, the hls4ml model, AXI-Stream words out.
//
// One value per stream word: the model type's W bits, sign-extended (ap_int) or zero-extended
// (ap_uint) into the word's container; samples back to back; TLAST on the last word of the batch.
// flow writes firmware/flow_axis_top.cpp, a dataflow region of three processes that each loop
// over n_samples (an AXI-Lite register): read_* (words to the model's type), the model, write_*
// (the model's type to words), matching bundle/driver.py's stream format.
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

// io_stream models: one sample of N values as packets of packet_t::size values, one word per
// cycle: a single pipelined loop over the words (a pipelined inner loop would restart per packet)
template <class bits_t, class packet_t, unsigned N, class word_t>
void read_packets(hls::stream<word_t> &words, hls::stream<packet_t> &packets) {
    packet_t packet;
    unsigned slot = 0;
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        from_word<bits_t>(words.read(), packet[slot]);
        if (slot + 1 == packet_t::size) {
            packets.write(packet);
            slot = 0;
        } else {
            slot++;
        }
    }
}

template <class bits_t, class packet_t, unsigned N, class word_t>
void write_packets(hls::stream<packet_t> &packets, hls::stream<word_t> &words, bool last_sample) {
    packet_t packet;
    unsigned slot = 0;
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        if (slot == 0) {
            packet = packets.read();
        }
        words.write(to_word<bits_t, typename packet_t::value_type, word_t>(packet[slot], last_sample && i + 1 == N));
        slot = slot + 1 == packet_t::size ? 0 : slot + 1;
    }
}

// the read and write processes of an io_stream top
template <class bits_t, class packet_t, unsigned N, class word_t>
void read_samples(hls::stream<word_t> &words, hls::stream<packet_t> &packets, unsigned n_samples) {
    for (unsigned sample = 0; sample < n_samples; sample++) {
        read_packets<bits_t, packet_t, N>(words, packets);
    }
}

template <class bits_t, class packet_t, unsigned N, class word_t>
void write_samples(hls::stream<packet_t> &packets, hls::stream<word_t> &words, unsigned n_samples) {
    for (unsigned sample = 0; sample < n_samples; sample++) {
        write_packets<bits_t, packet_t, N>(packets, words, sample + 1 == n_samples);
    }
}

// the read and write processes of an io_parallel top: one value per FIFO slot, as on the wire
template <class bits_t, class value_t, unsigned N, class word_t>
void read_values(hls::stream<word_t> &words, hls::stream<value_t> &values, unsigned n_samples) {
    for (unsigned sample = 0; sample < n_samples; sample++) {
        for (unsigned i = 0; i < N; i++) {
            #pragma HLS PIPELINE
            value_t value;
            from_word<bits_t>(words.read(), value);
            values.write(value);
        }
    }
}

template <class bits_t, class value_t, unsigned N, class word_t>
void write_values(hls::stream<value_t> &values, hls::stream<word_t> &words, unsigned n_samples) {
    for (unsigned sample = 0; sample < n_samples; sample++) {
        for (unsigned i = 0; i < N; i++) {
            #pragma HLS PIPELINE
            bool last = sample + 1 == n_samples && i + 1 == N;
            words.write(to_word<bits_t, value_t, word_t>(values.read(), last));
        }
    }
}

// inside an io_parallel top's model process: one sample between its FIFOs and the model's arrays
template <class value_t, unsigned N> void read_array(hls::stream<value_t> &values, value_t array[N]) {
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE
        array[i] = values.read();
    }
}

template <class value_t, unsigned N> void write_array(const value_t array[N], hls::stream<value_t> &values) {
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE
        values.write(array[i]);
    }
}

} // namespace flow

#endif
