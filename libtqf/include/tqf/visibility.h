// Symbol visibility for the tqf library. tqf is built as a static library by
// default; TQF_EXPORT marks the public API so a shared build can export it.
#ifndef TQF_VISIBILITY_H_
#define TQF_VISIBILITY_H_

#if defined(TQF_SHARED_LIBRARY) && defined(__GNUC__)
#define TQF_EXPORT __attribute__((visibility("default")))
#else
#define TQF_EXPORT
#endif

#endif  // TQF_VISIBILITY_H_
