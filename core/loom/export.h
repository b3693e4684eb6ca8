/** @file
 * loom — symbol visibility. The library is built with -fvisibility=hidden;
 * only declarations marked LOOM_API are part of the ABI. */
#ifndef LOOM_EXPORT_H
#define LOOM_EXPORT_H

/** Marks a declaration as part of the ABI (exported from the library). */
#if defined(LOOM_BUILDING) && defined(__GNUC__)
#define LOOM_API __attribute__((visibility("default")))
#else
#define LOOM_API
#endif

/** Wrap the C declarations of a header (extern "C" in C++). */
#ifdef __cplusplus
///@{
#define LOOM_BEGIN_DECLS extern "C" {
#define LOOM_END_DECLS }
///@}
#else
#define LOOM_BEGIN_DECLS
#define LOOM_END_DECLS
#endif

#endif
