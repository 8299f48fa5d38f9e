// hls::stream for flow's FIFO check (flow/hls4ml/fifo_check.py), never for synthesis or csim.
//
// Its directory comes first on the check's include path, so it stands in for hls4ml's
// firmware/ap_types/hls_stream.h; it takes that header's include guard, so only one of the two
// is ever compiled in. A stream given a depth (flow_fifo::bound, which the check's rewrite of
// the project inserts after every local stream declaration) blocks writers while it is full;
// every stream blocks readers while it is empty. Other streams (library internals, the
// driver's ports) are unbounded. flow_fifo::process_group runs the processes of a dataflow
// region on their own threads; flow_fifo::watch reports a deadlock, when every running thread
// waits on a stream and no stream has moved for the deadline, then ends the program (exit 3).
//
// Output, one record a line: "fifo NAME DEPTH MAX_FILL" when a bounded stream is destroyed,
// "leftover NAME COUNT" when it still holds data then, "deadlock" followed by
// "blocked NAME full|empty FILL DEPTH" for each stream a thread waits on.
#ifndef X_HLS_STREAM_SIM_H
#define X_HLS_STREAM_SIM_H

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace flow_fifo {

const int DEADLOCK_EXIT = 3;
// hls4ml's dense_latency keeps n_in * n_out products on the stack (10 MB for 400K weights)
const std::size_t PROCESS_STACK_BYTES = std::size_t(256) << 20;

// the part of an hls::stream the watchdog reads, whatever its element type
struct fifo {
    std::string name;
    std::size_t depth = 0;  // 0: unbounded
    std::size_t fill = 0, max_fill = 0;
    int waiting_readers = 0, waiting_writers = 0;
    std::mutex mutex;
    std::condition_variable not_empty, not_full;
};

struct network {
    std::mutex mutex;  // guards fifos and the output
    std::set<fifo *> fifos;  // every stream alive
    std::atomic<unsigned long> moves{0};  // reads and writes, on every stream
    std::atomic<int> running{1};  // threads that run process code; main starts as one
    std::atomic<int> waiting{0};  // threads blocked in a read or write
};

inline network &state() {
    static network *the_network = new network;  // never destroyed: the detached watchdog reads it up to exit
    return *the_network;
}

inline void enlist(fifo &stream) {
    std::lock_guard<std::mutex> guard(state().mutex);
    state().fifos.insert(&stream);
}

template <class S> void bound(S &stream, std::size_t depth, const char *name) {
    std::lock_guard<std::mutex> guard(stream.mutex);
    stream.name = name;
    stream.depth = depth;
}

inline void retire(fifo &stream) {
    std::lock_guard<std::mutex> guard(state().mutex);
    state().fifos.erase(&stream);
    if (!stream.depth)
        return;
    std::printf("fifo %s %zu %zu\n", stream.name.c_str(), stream.depth, stream.max_fill);
    if (stream.fill)
        std::printf("leftover %s %zu\n", stream.name.c_str(), stream.fill);
    std::fflush(stdout);
}

// blocks on `ready` until `can_go`, counted as waiting on this stream and in the network
template <class Predicate>
void wait_until(std::unique_lock<std::mutex> &lock, std::condition_variable &ready, int &waiters, Predicate can_go) {
    if (can_go())
        return;
    waiters++;
    state().waiting++;
    ready.wait(lock, can_go);
    state().waiting--;
    waiters--;
}

inline void *run_process(void *body) {
    std::unique_ptr<std::function<void()>> process(static_cast<std::function<void()> *>(body));
    (*process)();
    state().running--;
    return nullptr;
}

// the processes of one dataflow region, each on its own thread; join() ends the region
class process_group {
    std::vector<pthread_t> threads_;

  public:
    void spawn(std::function<void()> body) {
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, PROCESS_STACK_BYTES);
        state().running++;  // before the thread starts, so the watchdog never misses it
        pthread_t thread;
        if (pthread_create(&thread, &attributes, run_process, new std::function<void()>(std::move(body)))) {
            std::fprintf(stderr, "fifo check: cannot start a process thread\n");
            _exit(2);
        }
        pthread_attr_destroy(&attributes);
        threads_.push_back(thread);
    }

    void join() {
        state().running--;  // a thread waiting for its region's processes runs none itself
        for (pthread_t thread : threads_)
            pthread_join(thread, nullptr);
        threads_.clear();
        state().running++;
    }

    ~process_group() {
        if (!threads_.empty())
            join();
    }
};

inline void report_deadlock() {
    std::lock_guard<std::mutex> guard(state().mutex);
    std::printf("deadlock\n");
    for (fifo *stream : state().fifos) {
        std::lock_guard<std::mutex> stream_guard(stream->mutex);
        if (stream->waiting_writers)
            std::printf("blocked %s full %zu %zu\n", stream->name.c_str(), stream->fill, stream->depth);
        if (stream->waiting_readers)
            std::printf("blocked %s empty %zu %zu\n", stream->name.c_str(), stream->fill, stream->depth);
    }
    std::fflush(stdout);
}

// a deadlock: every running thread waits on a stream, and none has moved for deadline_ms
inline void watch(unsigned deadline_ms) {
    std::thread([deadline_ms] {
        auto last_move = std::chrono::steady_clock::now();
        unsigned long moves = state().moves;
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            auto now = std::chrono::steady_clock::now();
            if (state().moves != moves) {
                moves = state().moves;
                last_move = now;
            } else if (now - last_move > std::chrono::milliseconds(deadline_ms) && state().running > 0 &&
                       state().waiting == state().running) {
                report_deadlock();
                _exit(DEADLOCK_EXIT);
            }
        }
    }).detach();
}

} // namespace flow_fifo

namespace hls {

template <typename T> class stream : public flow_fifo::fifo {
    std::deque<T> data_;

    void moved() {
        fill = data_.size();
        if (fill > max_fill)
            max_fill = fill;
        flow_fifo::state().moves++;
    }

  public:
    stream() : stream("hls_stream") {}
    stream(const std::string &stream_name) {
        name = stream_name;
        flow_fifo::enlist(*this);
    }
    stream(const char *stream_name) : stream(std::string(stream_name)) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;
    ~stream() { flow_fifo::retire(*this); }

    void write(const T &value) {
        std::unique_lock<std::mutex> lock(mutex);
        flow_fifo::wait_until(lock, not_full, waiting_writers, [this] { return !depth || data_.size() < depth; });
        data_.push_back(value);
        moved();
        not_empty.notify_all();
    }

    T read() {
        std::unique_lock<std::mutex> lock(mutex);
        flow_fifo::wait_until(lock, not_empty, waiting_readers, [this] { return !data_.empty(); });
        T value = data_.front();
        data_.pop_front();
        moved();
        not_full.notify_all();
        return value;
    }

    void read(T &value) { value = read(); }
    void operator>>(T &value) { value = read(); }
    void operator<<(const T &value) { write(value); }

    bool read_nb(T &value) {
        std::unique_lock<std::mutex> lock(mutex);
        if (data_.empty())
            return false;
        value = data_.front();
        data_.pop_front();
        moved();
        not_full.notify_all();
        return true;
    }

    bool write_nb(const T &value) {
        std::unique_lock<std::mutex> lock(mutex);
        if (depth && data_.size() >= depth)
            return false;
        data_.push_back(value);
        moved();
        not_empty.notify_all();
        return true;
    }

    bool empty() {
        std::lock_guard<std::mutex> lock(mutex);
        return data_.empty();
    }

    bool full() {
        std::lock_guard<std::mutex> lock(mutex);
        return depth && data_.size() >= depth;
    }

    std::size_t size() {
        std::lock_guard<std::mutex> lock(mutex);
        return data_.size();
    }
};

} // namespace hls

#endif
