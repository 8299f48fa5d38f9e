// The stream side of flow's HLS IP: AXI-Stream words in, the hls4ml model, AXI-Stream words out.
//
// One value per stream word: the model type's W bits, sign-extended (ap_int) or zero-extended
// (ap_uint) into the word's container; samples back to back. The IP is free-running, as hls4ml's
// VivadoAccelerator axi_stream top: each invocation of flow_axis_top carries one sample through
// a dataflow region of read, model and write processes, and the next starts as soon as read is
// free, so samples overlap. TLAST of a sample's last output word repeats the TLAST the DMA put
// on its input words: one DMA transfer in, one out, per batch (bundle/driver.py).
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
// cycle: a single pipelined loop over the words (a pipelined inner loop would restart per packet).
// `last` gets whether any of the sample's words carried TLAST.
template <class bits_t, class packet_t, unsigned N, class word_t>
void read_packets(hls::stream<word_t> &words, hls::stream<packet_t> &packets, hls::stream<bool> &last) {
    packet_t packet;
    unsigned slot = 0;
    bool any_last = false;
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        word_t word = words.read();
        any_last |= word.last == 1;
        from_word<bits_t>(word, packet[slot]);
        if (slot + 1 == packet_t::size) {
            packets.write(packet);
            slot = 0;
        } else {
            slot++;
        }
    }
    last.write(any_last);
}

// the sample's words, TLAST on the last one where its input ended a DMA transfer
template <class bits_t, class packet_t, unsigned N, class word_t>
void write_packets(hls::stream<packet_t> &packets, hls::stream<word_t> &words, hls::stream<bool> &last) {
    packet_t packet;
    unsigned slot = 0;
    const bool ends_batch = last.read();
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        if (slot == 0) {
            packet = packets.read();
        }
        words.write(to_word<bits_t, typename packet_t::value_type, word_t>(packet[slot], ends_batch && i + 1 == N));
        slot = slot + 1 == packet_t::size ? 0 : slot + 1;
    }
}

// the read and write processes of an io_parallel top: one value per FIFO slot, as on the wire
template <class bits_t, class value_t, unsigned N, class word_t>
void read_values(hls::stream<word_t> &words, hls::stream<value_t> &values, hls::stream<bool> &last) {
    bool any_last = false;
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        word_t word = words.read();
        any_last |= word.last == 1;
        value_t value;
        from_word<bits_t>(word, value);
        values.write(value);
    }
    last.write(any_last);
}

template <class bits_t, class value_t, unsigned N, class word_t>
void write_values(hls::stream<value_t> &values, hls::stream<word_t> &words, hls::stream<bool> &last) {
    const bool ends_batch = last.read();
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS PIPELINE II=1
        words.write(to_word<bits_t, value_t, word_t>(values.read(), ends_batch && i + 1 == N));
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
