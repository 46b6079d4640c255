/*
 * json.h — the --json documents, built with json-c.
 *
 * A document is a json-c tree; the helpers below add members in order (json-c
 * keeps insertion order) and note an out-of-memory instead of failing each
 * call, so a command builds its whole result and checks once, in out_end.
 * Keys are NULL when the parent is an array.
 *
 * Strings that are not valid UTF-8 (a path or an argument quoted in an error
 * message, a hand-edited store) get U+FFFD for each bad byte: json-c escapes
 * but does not validate, and the output must stay parseable.
 *
 * A secret never enters json-c's memory: the document holds a placeholder
 * whose serializer records where the value goes, and jo_print writes the
 * secret itself straight from its guarded memory to the file descriptor.
 */
#ifndef LK_TOOLS_JSON_H
#define LK_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct jdoc {
    json_object *root;
    int oom;              /* an allocation failed: the tree is incomplete */
    const char *secret;   /* at most one secret per document */
    size_t secret_len;
    size_t secret_off;    /* where it goes in the serialized text */
    int secret_placed;
};

/* A new, empty document ({} at the root); *d is reset. Returns d->root or
 * NULL (then d->oom is set). */
json_object *jo_doc(struct jdoc *d);
enum { JO_NOMEM = -1, JO_EIO = -2 };
/* Serialize compactly (no spaces, '/' not escaped) to f with a newline, and
 * free the tree. 0; JO_NOMEM when the tree is incomplete or cannot be
 * serialized (nothing printed); JO_EIO on a write error. */
int jo_print(struct jdoc *d, FILE *f);
/* The same into memory, without the newline (latchkeyd's management API):
 * *out holds len bytes plus a NUL, sodium_malloc'd when the document holds a
 * secret (*guarded 1: release with sodium_free) else malloc'd; the caller
 * wipes it before freeing. Frees the tree. 0 or JO_NOMEM (*out NULL). */
int jo_render(struct jdoc *d, char **out, size_t *len, int *guarded);
/* Free the tree without printing (error paths). */
void jo_free(struct jdoc *d);

json_object *jo_obj(struct jdoc *d, json_object *parent, const char *key);
json_object *jo_arr(struct jdoc *d, json_object *parent, const char *key);
void jo_str(struct jdoc *d, json_object *parent, const char *key, const char *s);
void jo_u64(struct jdoc *d, json_object *parent, const char *key, uint64_t v);
void jo_null(struct jdoc *d, json_object *parent, const char *key);
void jo_bool(struct jdoc *d, json_object *parent, const char *key, bool v);
void jo_strlist(struct jdoc *d, json_object *parent, const char *key, char *const *items, size_t n);
/* A secret, s[0..len): only the pointer is kept, so s must stay valid until
 * jo_print. One per document. */
void jo_secret(struct jdoc *d, json_object *parent, const char *key, const char *s, size_t len);

#endif
