/* tests/test_plot.c - the SVG writer, checked on its output: every figure is parsed by a small
   XML checker below (one root <svg> with a viewBox, balanced tags, quoted attributes, entities
   only where they belong, nothing after the root) and then counted: the points of each line
   (the vertices of its path), the dots of each scatter series, the cells of regions and heat
   maps, the runs of grey of images. Also: every text with < & " ' is escaped and reads back as
   given, bytes that are not UTF-8 are replaced, the ticks are nice numbers (1, 2 or 5 times a
   power of ten, evenly spaced) covering the data on linear and log axes, non-finite points are
   skipped, numbers have one decimal at most, contract errors go to the handler, and a file
   that cannot be written is an MDL_ERR_IO return naming it. It writes build/test_plot.svg
   (tests/run.sh runs it from the repository's root) and removes it again.

   gcc -std=c99 -O1 -g -Wall -Wextra -Wpedantic -Werror -I. tests/test_plot.c \
       -o build/test_plot -lm
*/
#define MINIDL_IMPLEMENTATION
#include "minidl.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>

static mdl_arena *ar;

/* ---- the SVG of a figure, as a string ---- */

static char *svg;      /* the last figure written */
static size_t svg_len;

static int render(const mdl_plot *p) {
    FILE *f = tmpfile();
    long n;
    free(svg);
    svg = NULL;
    if (!f) return 0;
    if (mdl_plot_write(p, f) != MDL_OK) {
        fclose(f);
        return 0;
    }
    n = ftell(f);
    rewind(f);
    svg = (char *)malloc((size_t)n + 1);
    svg_len = svg ? fread(svg, 1, (size_t)n, f) : 0;
    if (svg) svg[svg_len] = 0;
    fclose(f);
    return svg != NULL && svg_len == (size_t)n;
}

/* ---- a small XML checker ----
   It accepts what this writer may produce and rejects what a browser would: the declaration
   <?xml ...?>, then exactly one element, <svg>, and nothing after it but white space. Names
   are letters, digits, '-', ':' and '_'. Each attribute is name="value" (double quotes), once
   per element, and its value holds no '<' and no '&' that does not start an entity. Text
   holds no '<' and no bare '&'. Entities are &amp; &lt; &gt; &quot; &apos; and &#...;. Every
   element is closed by its own end tag or by "/>". It records every element with its name,
   its attributes, its text (entities decoded), and the class of the nearest element with a
   class attribute (itself included), so that a test can count "circle in class scatter". */

#define MAX_ELEMS 20000
#define MAX_DEPTH 32

typedef struct elem {
    char name[16];
    char cls[24];     /* the nearest class attribute, its own or an ancestor's */
    char *attrs;      /* name="value" pairs as written, in attr_pool */
    char text[128];   /* its character data, decoded */
} elem;

static elem elems[MAX_ELEMS];
static int n_elems;
static char attr_pool[1 << 22]; /* the attributes of all elements, one string each */
static size_t pool_used;
static char xml_error[256];

static int xml_fail(const char *why, const char *at) {
    snprintf(xml_error, sizeof xml_error, "%s at byte %ld: \"%.40s\"", why,
             (long)(at - svg), at);
    return 0;
}

static int name_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == ':' || c == '_';
}

/* At '&': is it an entity? Writes the character it stands for (for the 5 named; '?' for
   numeric ones) and returns the length of the entity, or 0. */
static int entity(const char *s, char *out) {
    static const char *const names[5] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    static const char chars[5] = {'&', '<', '>', '"', '\''};
    int i;
    for (i = 0; i < 5; i++)
        if (strncmp(s, names[i], strlen(names[i])) == 0) {
            *out = chars[i];
            return (int)strlen(names[i]);
        }
    if (s[1] == '#') {
        i = 2;
        if (s[2] == 'x') i++;
        while (isxdigit((unsigned char)s[i])) i++;
        if (s[i] == ';' && i > 2) {
            *out = '?';
            return i + 1;
        }
    }
    return 0;
}

/* Parse svg; 1 if it is well-formed (xml_error says why not). */
static int xml_check(void) {
    const char *s = svg;
    int stack[MAX_DEPTH], depth = 0, roots = 0;
    char c;
    n_elems = 0;
    pool_used = 0;
    xml_error[0] = 0;
    if (!s) return xml_fail("no output", "");
    if (strncmp(s, "<?xml ", 6) != 0) return xml_fail("no XML declaration", s);
    s = strstr(s, "?>");
    if (!s) return xml_fail("the declaration is not closed", svg);
    s += 2;
    while (*s) {
        if (*s != '<') { /* character data */
            const char *t = s;
            for (; *s && *s != '<'; s++) {
                if (*s == '&' && !entity(s, &c)) return xml_fail("a bare &", s);
                if (depth == 0 && !isspace((unsigned char)*s))
                    return xml_fail("text outside the root", s);
            }
            if (depth > 0) { /* decode it into the open element's text */
                elem *e = &elems[stack[depth - 1]];
                size_t n = strlen(e->text);
                while (t < s && n + 1 < sizeof e->text) {
                    int len = *t == '&' ? entity(t, &c) : 0;
                    e->text[n++] = len ? c : *t;
                    t += len ? len : 1;
                }
                e->text[n] = 0;
            }
            continue;
        }
        if (s[1] == '/') { /* an end tag must close the innermost open element */
            const char *name = s + 2;
            size_t n = 0;
            while (name_char(name[n])) n++;
            if (depth == 0) return xml_fail("an end tag with nothing open", s);
            if (strlen(elems[stack[depth - 1]].name) != n ||
                strncmp(elems[stack[depth - 1]].name, name, n) != 0)
                return xml_fail("an end tag that does not match", s);
            depth--;
            s = name + n;
            while (isspace((unsigned char)*s)) s++;
            if (*s != '>') return xml_fail("an end tag not closed by >", s);
            s++;
            continue;
        }
        { /* a start tag: name, attributes, > or /> */
            elem *e;
            size_t n = 0;
            const char *name = s + 1;
            if (!isalpha((unsigned char)*name)) return xml_fail("a tag without a name", s);
            while (name_char(name[n])) n++;
            if (n >= sizeof elems[0].name) return xml_fail("a name too long", s);
            if (n_elems == MAX_ELEMS) return xml_fail("too many elements for the checker", s);
            if (depth == 0 && roots++) return xml_fail("a second root element", s);
            e = &elems[n_elems];
            memset(e, 0, sizeof *e);
            memcpy(e->name, name, n);
            if (pool_used + 1 >= sizeof attr_pool) return xml_fail("too long for the checker", s);
            e->attrs = attr_pool + pool_used;
            e->attrs[0] = 0;
            if (depth == 0 && strcmp(e->name, "svg") != 0) return xml_fail("the root is not svg", s);
            if (depth > 0) strcpy(e->cls, elems[stack[depth - 1]].cls);
            s = name + n;
            for (;;) {
                const char *an, *v;
                size_t anl, vl;
                char key[40];
                int had_space = isspace((unsigned char)*s);
                while (isspace((unsigned char)*s)) s++;
                if (*s == '>' || (s[0] == '/' && s[1] == '>')) break;
                if (!had_space) return xml_fail("no space before an attribute", s);
                an = s;
                for (anl = 0; name_char(an[anl]); anl++) continue;
                if (anl == 0 || anl + 3 >= sizeof key) return xml_fail("a bad attribute name", s);
                if (an[anl] != '=' || an[anl + 1] != '"')
                    return xml_fail("an attribute not written name=\"value\"", s);
                snprintf(key, sizeof key, " %.*s=\"", (int)anl, an);
                if (strstr(e->attrs, key)) return xml_fail("an attribute given twice", s);
                v = an + anl + 2;
                for (vl = 0; v[vl] && v[vl] != '"'; vl++) {
                    if (v[vl] == '<') return xml_fail("< in an attribute", v + vl);
                    if (v[vl] == '&' && !entity(v + vl, &c)) return xml_fail("a bare & in an attribute", v + vl);
                }
                if (!v[vl]) return xml_fail("an attribute value not closed", v);
                if (pool_used + strlen(e->attrs) + anl + vl + 5 >= sizeof attr_pool)
                    return xml_fail("attributes too long for the checker", s);
                sprintf(e->attrs + strlen(e->attrs), " %.*s=\"%.*s\"", (int)anl, an, (int)vl, v);
                if (anl == 5 && strncmp(an, "class", 5) == 0)
                    snprintf(e->cls, sizeof e->cls, "%.*s", (int)vl, v);
                s = v + vl + 1;
            }
            pool_used += strlen(e->attrs) + 1;
            n_elems++;
            if (*s == '/') {
                s += 2;
            } else {
                if (depth == MAX_DEPTH) return xml_fail("nested too deep for the checker", s);
                stack[depth++] = n_elems - 1;
                s++;
            }
        }
    }
    if (depth != 0) return xml_fail("elements left open at the end", s);
    if (roots != 1) return xml_fail("no root element", s);
    return 1;
}

/* The value of attribute `key` of e, or NULL (a static buffer). */
static const char *attr(const elem *e, const char *key) {
    static char buf[1 << 16];
    char pat[48];
    const char *a, *end;
    snprintf(pat, sizeof pat, " %s=\"", key);
    a = strstr(e->attrs, pat);
    if (!a) return NULL;
    a += strlen(pat);
    end = strchr(a, '"');
    snprintf(buf, sizeof buf, "%.*s", (int)(end - a), a);
    return buf;
}
static double num_attr(const elem *e, const char *key) {
    const char *v = attr(e, key);
    return v ? atof(v) : NAN;
}

/* How many elements `name` are within class `cls` (NULL: anywhere). */
static int count(const char *name, const char *cls) {
    int i, n = 0;
    for (i = 0; i < n_elems; i++)
        n += strcmp(elems[i].name, name) == 0 && (!cls || strcmp(elems[i].cls, cls) == 0);
    return n;
}

/* The k-th element `name` within class `cls`, or NULL. */
static const elem *find(const char *name, const char *cls, int k) {
    int i;
    for (i = 0; i < n_elems; i++)
        if (strcmp(elems[i].name, name) == 0 && (!cls || strcmp(elems[i].cls, cls) == 0) &&
            k-- == 0)
            return &elems[i];
    return NULL;
}

/* The vertices of a path: its M and L commands. */
static int vertices(const elem *e) {
    const char *d = e ? attr(e, "d") : NULL;
    int n = 0;
    for (; d && *d; d++) n += *d == 'M' || *d == 'L';
    return n;
}

/* Checks every figure gets: well-formed, an <svg> root with xmlns, version 1.1 and a viewBox,
   and every number in a coordinate attribute finite, short, with one decimal at most. */
static void check_svg(const char *what) {
    static const char *const coords[] = {"x", "y", "cx", "cy", "r", "width", "height", "d",
                                         "viewBox", "font-size"};
    int ok = xml_check(), i, k, bad = 0;
    CHECK(ok, "%s: not well-formed: %s", what, xml_error);
    if (!ok) return;
    CHECK(strcmp(elems[0].name, "svg") == 0 && attr(&elems[0], "viewBox") &&
              attr(&elems[0], "xmlns") && strcmp(attr(&elems[0], "xmlns"),
                                                 "http://www.w3.org/2000/svg") == 0 &&
              strcmp(attr(&elems[0], "version"), "1.1") == 0,
          "%s: the root: <svg%s>", what, elems[0].attrs);
    for (i = 0; i < n_elems && !bad; i++)
        for (k = 0; k < (int)(sizeof coords / sizeof coords[0]) && !bad; k++) {
            const char *v = attr(&elems[i], coords[k]), *c;
            int digits = -1;
            if (!v) continue;
            for (c = v; *c && !bad; c++) {
                /* only digits, signs, points, spaces and path commands; a point is followed
                   by one digit at most */
                if (!strchr("0123456789.- MLHVhvz", *c)) bad = 1;
                if (*c == '.') digits = 0;
                else if (isdigit((unsigned char)*c) && digits >= 0) bad = ++digits > 1;
                else digits = -1;
            }
            if (bad)
                CHECK(0, "%s: <%s %s=\"%s\">: not a short finite number", what, elems[i].name,
                      coords[k], v);
        }
    CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL, "%s: nan or inf in the file",
          what);
}

/* ---- the tests ---- */

static void test_two_lines(void) {
    /* the documentation's example with a NaN in the second series: 5 + 4 points, and the
       NaN splits the second line in two pieces, 2 points and 2 points */
    double epoch[5] = {1, 2, 3, 4, 5};
    double train[5] = {2.3, 1.1, 0.62, 0.41, 0.33}, valid[5] = {2.2, 1.2, NAN, 0.71, 0.74};
    mdl_plot *p = mdl_plot_new("Loss < 1 & \"falling\" isn't it");
    const elem *e;
    mdl_plot_labels(p, "epoch", "cross-entropy");
    mdl_plot_line(p, "training", 5, epoch, train);
    mdl_plot_line(p, "validation", 5, epoch, valid);
    CHECK(render(p), "rendered");
    check_svg("two lines");
    CHECK(count("path", "line") == 2, "2 lines, got %d", count("path", "line"));
    CHECK(vertices(find("path", "line", 0)) == 5, "training: 5 vertices, got %d",
          vertices(find("path", "line", 0)));
    e = find("path", "line", 1);
    CHECK(vertices(e) == 4, "validation: 4 vertices (the NaN skipped), got %d", vertices(e));
    CHECK(e && strchr(strchr(attr(e, "d"), 'M') + 1, 'M') != NULL, "the NaN breaks the line");
    /* the colours: the first two of the palette */
    CHECK(e && strcmp(attr(find("path", "line", 0), "stroke"), "#0072B2") == 0 &&
              strcmp(attr(e, "stroke"), "#E69F00") == 0, "blue, then orange");
    /* the legend names both, and the title is escaped in the file and reads back as given */
    CHECK(count("text", "legend") == 2 && strcmp(find("text", "legend", 1)->text, "validation")
          == 0, "legend: %d texts", count("text", "legend"));
    CHECK(strstr(svg, "Loss &lt; 1 &amp; &quot;falling&quot; isn&apos;t it") != NULL,
          "the title escaped");
    CHECK(find("text", NULL, 0) && strcmp(find("text", NULL, 0)->text,
                                          "Loss < 1 & \"falling\" isn't it") == 0,
          "the title reads back: %s", find("text", NULL, 0) ? find("text", NULL, 0)->text : "");
    CHECK(find("text", "xlabel", 0) && strcmp(find("text", "xlabel", 0)->text, "epoch") == 0,
          "x label");
    CHECK(find("text", "ylabel", 0) && strcmp(find("text", "ylabel", 0)->text,
                                              "cross-entropy") == 0, "y label");
    mdl_plot_free(p);
}

/* The tick labels of an axis ("xticks" or "yticks") as numbers; returns how many. */
static int ticks(const char *cls, double *t, int max) {
    int n = 0;
    const elem *e;
    while (n < max && (e = find("text", cls, n)) != NULL) {
        t[n] = atof(e->text);
        n++;
    }
    return n;
}

/* Is v 1, 2 or 5 times a power of ten? */
static int nice(double v) {
    double m = fabs(v) / pow(10, floor(log10(fabs(v))));
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9 ||
           fabs(m - 10) < 1e-9;
}

/* Plot two dots at (0, lo) and (1, hi) and check the y ticks: evenly spaced by a nice step,
   each a whole multiple of it, between 3 and 8 of them, the first <= lo and the last >= hi,
   less than a step beyond either; and that they are want[0..n_want-1]. */
static void check_linear_ticks(double lo, double hi, const double *want, int n_want) {
    double x[2] = {0, 1}, y[2], t[32], step;
    int n, i, ok;
    mdl_plot *p = mdl_plot_new(NULL);
    y[0] = lo;
    y[1] = hi;
    mdl_plot_scatter(p, NULL, 2, x, y);
    render(p);
    mdl_plot_free(p);
    check_svg("ticks");
    n = ticks("yticks", t, 32);
    CHECK(n >= 3 && n <= 8, "[%g, %g]: %d ticks", lo, hi, n);
    if (n < 2) return;
    step = t[1] - t[0];
    ok = nice(step);
    for (i = 0; i < n; i++)
        ok = ok && fabs(t[i] - t[0] - i * step) < 1e-9 * fabs(step) * n &&
             fabs(t[i] / step - floor(t[i] / step + 0.5)) < 1e-6;
    CHECK(ok, "[%g, %g]: ticks %g, %g, ... (step %g) are not nice", lo, hi, t[0], t[1], step);
    CHECK(t[0] <= lo && t[n - 1] >= hi &&
              (lo == hi || (t[0] > lo - step && t[n - 1] < hi + step)),
          "[%g, %g]: ticks from %g to %g do not cover it snugly", lo, hi, t[0], t[n - 1]);
    ok = n == n_want;
    for (i = 0; ok && i < n; i++) ok = fabs(t[i] - want[i]) <= 1e-9 * fabs(step);
    CHECK(ok, "[%g, %g]: %d ticks %g .. %g, want %d: %g .. %g", lo, hi, n, t[0], t[n - 1],
          n_want, want[0], want[n_want - 1]);
}

static void test_ticks(void) {
    /* the step is the smallest of 1, 2, 5 x 10^k that makes 5 intervals or fewer of the range,
       and the axis is widened to whole steps:
         [0.37, 2.9]: 2.53 / 5 = 0.506 -> 1:    0 1 2 3
         [-13, 47]:   60 / 5 = 12 -> 20:        -20 0 20 40 60
         [1000, 1000]: widened by 10% to [900, 1100]: 200 / 5 = 40 -> 50: 900 950 ... 1100
         [0.001, 0.0013]: 0.0003 / 5 = 6e-5 -> 1e-4: 0.001 0.0011 0.0012 0.0013
         [0, 0]:      widened to [-1, 1]: 2 / 5 = 0.4 -> 0.5: -1 -0.5 0 0.5 1 */
    static const double a[4] = {0, 1, 2, 3}, b[5] = {-20, 0, 20, 40, 60};
    static const double c[5] = {900, 950, 1000, 1050, 1100}, d[4] = {0.001, 0.0011, 0.0012, 0.0013};
    static const double z[5] = {-1, -0.5, 0, 0.5, 1};
    double t[32], x[4] = {0, 1, 2, 3}, y[4] = {0.07, 2.35, 0.5, 1};
    int n, i, ok;
    mdl_plot *p;
    check_linear_ticks(0.37, 2.9, a, 4);
    check_linear_ticks(-13, 47, b, 5);
    check_linear_ticks(1000, 1000, c, 5);
    check_linear_ticks(0.001, 0.0013, d, 4);
    check_linear_ticks(0, 0, z, 5);
    /* log axis over 0.07 .. 2.35, from -2 to 1 in powers of ten: three decades or fewer get
       1, 2, 5 x 10^k, from the largest <= 0.07 to the smallest >= 2.35:
       0.05 0.1 0.2 0.5 1 2 5 */
    p = mdl_plot_new(NULL);
    mdl_plot_log_y(p, 1);
    mdl_plot_line(p, "loss", 4, x, y);
    render(p);
    mdl_plot_free(p);
    check_svg("log ticks");
    n = ticks("yticks", t, 32);
    {
        static const double want[7] = {0.05, 0.1, 0.2, 0.5, 1, 2, 5};
        ok = n == 7;
        for (i = 0; ok && i < n; i++) ok = fabs(t[i] / want[i] - 1) < 1e-9 && nice(t[i]);
        CHECK(ok, "log ticks: %d, %g .. %g", n, t[0], t[n > 0 ? n - 1 : 0]);
    }
    /* 3e-5 .. 40: -5 to 2, seven decades: the powers of ten 1e-5 .. 100 */
    y[0] = 3e-5;
    y[1] = 40;
    p = mdl_plot_new(NULL);
    mdl_plot_log_y(p, 1);
    mdl_plot_line(p, NULL, 4, x, y);
    render(p);
    mdl_plot_free(p);
    check_svg("log ticks, 7 decades");
    n = ticks("yticks", t, 32);
    ok = n == 8;
    for (i = 0; ok && i < n; i++) ok = fabs(t[i] / pow(10, i - 5) - 1) < 1e-9;
    CHECK(ok, "log ticks over 7 decades: %d, %g .. %g", n, t[0], t[n > 0 ? n - 1 : 0]);
}

static void test_non_finite(void) {
    /* dots: (0,0) (1,NaN) (inf,2) (3,3) (4,-inf) (5,5): three can be drawn, and the axes
       cover 0..5 (the infinities take no part: x ticks 0 1 2 3 4 5) */
    double x[6] = {0, 1, HUGE_VAL, 3, 4, 5}, y[6] = {0, NAN, 2, 3, -HUGE_VAL, 5}, t[16];
    double lx[5] = {1, 2, 3, 4, 5}, ly[5] = {1, 0, -1, 10, 100};
    mdl_plot *p = mdl_plot_new("dots");
    int n;
    mdl_plot_scatter(p, "some", 6, x, y);
    render(p);
    check_svg("non-finite dots");
    CHECK(count("circle", "scatter") == 3, "3 of 6 dots drawn, got %d",
          count("circle", "scatter"));
    n = ticks("xticks", t, 16);
    CHECK(n == 6 && t[0] == 0 && t[5] == 5, "x ticks 0..5: %d, %g .. %g", n, t[0], t[n - 1]);
    /* a log axis leaves out y <= 0: of 1 0 -1 10 100 the first stands alone (a dot: "M...h0")
       and 10, 100 make a segment: 2 pieces, 3 vertices */
    mdl_plot_panel(p, "log");
    mdl_plot_log_y(p, 1);
    mdl_plot_line(p, "loss", 5, lx, ly);
    render(p);
    check_svg("log line");
    CHECK(vertices(find("path", "line", 0)) == 3, "3 vertices on the log axis, got %d",
          vertices(find("path", "line", 0)));
    CHECK(strstr(attr(find("path", "line", 0), "d"), "h0") != NULL, "the lone point is a dot");
    mdl_plot_free(p);
}

static void test_scatter_classes(void) {
    /* 7 points of classes 0 1 1 2 0 1 1 in 4 classes: series of 2, 4 and 1 dots in the
       palette's colours 0, 1, 2; class 3 has no point and no series */
    static const mdl_scalar pts[14] = {0, 0, 1, 1, 2, 1, 3, 0, 1, 2, 2, 2, 0, 3};
    static const mdl_scalar lab[7] = {0, 1, 1, 2, 0, 1, 1};
    static const char *const names[4] = {"Adélie", "Chinstrap <C>", "Gentoo \xff", "none"};
    int ps[2] = {7, 2}, ls[1] = {7};
    mdl_plot *p = mdl_plot_new("Penguins");
    mdl_plot_scatter_classes(p, mdl_from_array(ar, 2, ps, pts), mdl_from_array(ar, 1, ls, lab),
                             4, names);
    mdl_plot_abline(p, "fit", 0.5, 0.25);
    render(p);
    check_svg("classes");
    CHECK(count("circle", "scatter") == 7, "7 dots, got %d", count("circle", "scatter"));
    CHECK(count("g", "scatter") == 3, "3 series, got %d", count("g", "scatter"));
    CHECK(strcmp(attr(find("g", "scatter", 0), "fill"), "#0072B2") == 0 &&
              strcmp(attr(find("g", "scatter", 1), "fill"), "#E69F00") == 0 &&
              strcmp(attr(find("g", "scatter", 2), "fill"), "#009E73") == 0,
          "class c in colour c");
    {
        /* elements of the legend: 3 classes + the line, names as given (UTF-8 kept, the byte
           0xff replaced); the straight line takes the colour after the 4 classes' */
        int i, dots = 0;
        for (i = 0; i < n_elems; i++)
            if (strcmp(elems[i].cls, "scatter") == 0 && strcmp(elems[i].name, "g") == 0) {
                int k = 0;
                while (i + 1 + k < n_elems && strcmp(elems[i + 1 + k].name, "circle") == 0) k++;
                CHECK(k == (dots == 0 ? 2 : dots == 1 ? 4 : 1), "series %d has %d dots", dots, k);
                dots++;
            }
        CHECK(count("text", "legend") == 4, "4 legend entries, got %d", count("text", "legend"));
        CHECK(strcmp(find("text", "legend", 0)->text, "Adélie") == 0, "UTF-8 kept: %s",
              find("text", "legend", 0)->text);
        CHECK(strcmp(find("text", "legend", 1)->text, "Chinstrap <C>") == 0, "escaped");
        CHECK(strcmp(find("text", "legend", 2)->text, "Gentoo ?") == 0, "0xff replaced: %s",
              find("text", "legend", 2)->text);
        CHECK(count("path", "abline") == 1 && strcmp(attr(find("path", "abline", 0), "stroke"),
                                                      "#CC79A7") == 0, "the line, colour 4");
    }
    mdl_plot_free(p);
}

static void test_regions(void) {
    /* a 2 x 3 grid over [0,3] x [0,2], row 0 at the bottom: classes 0 0 1 / 2 2 2 are 3 runs,
       3 rectangles: row 0's 0 0 is 2/3 of the plot's width (240 of 360 px), its 1 the rest,
       and row 1 is one rectangle across all of it; the axes are the grid's own edges */
    static const mdl_scalar cls[6] = {0, 0, 1, 2, 2, 2};
    int gs[2] = {2, 3};
    mdl_tensor *g = mdl_plot_grid_points(ar, 2, 3, 0, 3, 0, 2);
    mdl_plot *p = mdl_plot_new("regions");
    CHECK(g && g->shape[0] == 6 && g->shape[1] == 2, "grid points [6,2]");
    /* centres: point 0 = (0.5, 0.5), point 2 = (2.5, 0.5), point 3 = (0.5, 1.5) */
    CHECK(g && g->data[0] == 0.5f && g->data[1] == 0.5f && g->data[4] == 2.5f &&
              g->data[5] == 0.5f && g->data[6] == 0.5f && g->data[7] == 1.5f, "grid centres");
    mdl_plot_regions(p, mdl_from_array(ar, 2, gs, cls), 0, 3, 0, 2);
    render(p);
    check_svg("regions");
    CHECK(count("rect", "regions") == 3, "3 runs, got %d", count("rect", "regions"));
    if (count("rect", "regions") == 3) {
        const elem *r0 = find("rect", "regions", 0), *r1 = find("rect", "regions", 1),
                   *r2 = find("rect", "regions", 2);
        CHECK_NEAR(num_attr(r0, "width"), 240, 0.11, "row 0, class 0: 2 of 3 cells");
        CHECK_NEAR(num_attr(r1, "width"), 120, 0.11, "row 0, class 1");
        CHECK_NEAR(num_attr(r2, "width"), 360, 0.11, "row 1, class 2: all 3");
        CHECK(num_attr(r2, "y") < num_attr(r0, "y"), "row 1 above row 0");
        CHECK_NEAR(num_attr(r0, "x") + num_attr(r0, "width"), num_attr(r1, "x"), 1e-9,
                   "side by side, no gap");
    }
    {
        /* a NaN and a 1.5 leave their cells empty: 0 NaN 0 / 1 1.5 1 -> 2 + 2 rectangles */
        mdl_scalar odd[6] = {0, (mdl_scalar)NAN, 0, 1, 1.5f, 1};
        mdl_plot_panel(p, NULL);
        mdl_plot_regions(p, mdl_from_array(ar, 2, gs, odd), 0, 3, 0, 2);
        render(p);
        check_svg("regions with holes");
        CHECK(count("rect", "regions") == 3 + 4, "4 more runs, got %d",
              count("rect", "regions") - 3);
    }
    mdl_plot_free(p);
}

static void test_heatmap(void) {
    /* a confusion matrix with one NaN cell: 8 cells and 8 numbers; 30 is written "30",
       0.125 "0.125"; the largest cell is the darkest (#0072B2) with white text */
    mdl_scalar v[9] = {30, 1, 0, 2, 13, 0, 0.125f, (mdl_scalar)NAN, 25};
    int s[2] = {3, 3};
    static const char *const names[3] = {"a&b", "c", "d"};
    mdl_plot *p = mdl_plot_new("Confusion");
    mdl_plot_heatmap(p, mdl_from_array(ar, 2, s, v), names, NULL, 1);
    mdl_plot_labels(p, "predicted", "true");
    render(p);
    check_svg("heat map");
    CHECK(count("rect", "heatmap") == 8, "8 cells, got %d", count("rect", "heatmap"));
    CHECK(count("text", "cells") == 8, "8 values, got %d", count("text", "cells"));
    CHECK(strcmp(find("text", "cells", 0)->text, "30") == 0 &&
              strcmp(find("text", "cells", 6)->text, "0.125") == 0, "values written");
    CHECK(strcmp(attr(find("rect", "heatmap", 0), "fill"), "#0072b2") == 0 &&
              strcmp(attr(find("text", "cells", 0), "fill"), "#fff") == 0, "30: darkest");
    CHECK(strcmp(attr(find("rect", "heatmap", 2), "fill"), "#ffffff") == 0 &&
              attr(find("text", "cells", 2), "fill") == NULL, "0: white, black text");
    CHECK(strcmp(find("text", "rownames", 0)->text, "a&b") == 0 &&
              strcmp(find("text", "colnames", 2)->text, "2") == 0, "names and numbers");
    /* a line in a heat map's panel is a contract error */
    capture_errors();
    CHECK(mdl_plot_line(p, "x", 0, NULL, NULL) == MDL_ERR_ARG && captured_count == 1 &&
              strstr(captured_message, "mdl_plot_line: panel 0 already holds a heat map") &&
              strstr(captured_message, "mdl_plot_panel"), "line on a heat map: %s",
          captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_plot_free(p);
}

static void test_images(void) {
    /* two 3 x 4 images [2,1,3,4], lo 0, hi 1; grey = round(255 v):
         image 0: row 0: 0 0 1 1        -> one run of 255, 2 wide
                  row 1: .5 .5 0 1      -> a run of 128 (0.5 * 255 + 0.5), 2 wide, then 255
                  row 2: 0 0 0 2        -> 2 is clamped to 255: one run, 1 wide
         image 1: all 0 but one NaN     -> one vermillion pixel
       so 2 black squares + 4 + 1 = 7 rectangles */
    mdl_scalar v[24] = {0, 0, 1, 1, 0.5f, 0.5f, 0, 1, 0, 0, 0, 2,
                        0, 0, 0, 0, 0, 0, (mdl_scalar)NAN, 0, 0, 0, 0, 0};
    int s[4] = {2, 1, 3, 4};
    static const char *const caps[2] = {"7 <", "'9'"};
    mdl_plot *p = mdl_plot_new("digits");
    mdl_plot_images(p, mdl_from_array(ar, 4, s, v), 0, 0, 1, caps);
    render(p);
    check_svg("images");
    CHECK(count("g", "image") == 2, "2 images, got %d", count("g", "image"));
    CHECK(count("rect", "image") == 7, "7 rectangles, got %d", count("rect", "image"));
    if (count("rect", "image") == 7) {
        const elem *r = find("rect", "image", 2); /* image 0, row 1, the 128 run */
        CHECK(strcmp(attr(r, "fill"), "#808080") == 0 && num_attr(r, "width") == 2 &&
                  num_attr(r, "y") == 1, "the grey run: <rect%s>", r->attrs);
        CHECK(strcmp(attr(find("rect", "image", 6), "fill"), "#D55E00") == 0, "NaN: vermillion");
        CHECK(num_attr(find("rect", "image", 4), "x") == 3 &&
                  strcmp(attr(find("rect", "image", 4), "fill"), "#ffffff") == 0, "2 clamped");
    }
    CHECK(count("text", "caption") == 2 && strcmp(find("text", "caption", 0)->text, "7 <") == 0
              && strcmp(find("text", "caption", 1)->text, "'9'") == 0, "captions");
    CHECK(strstr(svg, "&apos;9&apos;") != NULL && strstr(svg, "7 &lt;") != NULL, "escaped");
    {
        /* lo == hi: each image its own scale: 2 4 6 -> black, 128, white */
        mdl_scalar w[3] = {2, 4, 6};
        int s1[2] = {1, 3};
        mdl_plot_panel(p, "filter");
        mdl_plot_images(p, mdl_from_array(ar, 2, s1, w), 0, 0, 0, NULL);
        render(p);
        check_svg("a filter");
        CHECK(count("rect", "image") == 7 + 3 && strcmp(attr(find("rect", "image", 8), "fill"),
                                                        "#808080") == 0, "own scale");
    }
    mdl_plot_free(p);
}

static void test_panels_and_size(void) {
    /* three panels side by side; the figure's width is the sum of theirs */
    double x[1000], y[1000];
    int i;
    mdl_plot *p = mdl_plot_new("a");
    long before;
    for (i = 0; i < 1000; i++) {
        x[i] = i;
        y[i] = sin(i * 0.01);
    }
    mdl_plot_line(p, "sine", 1000, x, y);
    render(p);
    before = (long)svg_len;
    /* a thousand points in a few bytes each: "L123.4 56.7" */
    CHECK(before < 16000, "1000 points in %ld bytes", before);
    mdl_plot_panel(p, "b");
    mdl_plot_line(p, NULL, 3, NULL, y); /* x NULL: 0, 1, 2 */
    mdl_plot_panel(p, "c");
    render(p);
    check_svg("three panels");
    {
        int panels = 0;
        for (i = 0; i < n_elems; i++) {
            const char *c = attr(&elems[i], "class");
            panels += c && strcmp(c, "panel") == 0;
        }
        CHECK(panels == 3, "3 panels, got %d", panels);
    }
    {
        const elem *p2 = find("g", "panel", 2);
        double w = num_attr(&elems[0], "width");
        CHECK(p2 && strstr(attr(p2, "transform"), "translate(") && w > 3 * 360,
              "side by side: width %g", w);
        CHECK(ticks("xticks", x, 1000) >= 3, "x ticks");
    }
    mdl_plot_free(p);
}

static void test_errors(void) {
    int s33[2] = {3, 3}, s3[1] = {3}, s4[4] = {2, 3, 4, 5};
    mdl_scalar lab[3] = {0, 5, 1};
    double xs[2] = {0, 1};
    mdl_plot *p = mdl_plot_new(NULL);
    capture_errors();
    CHECK(mdl_plot_line(NULL, "x", 2, xs, xs) == MDL_ERR_NULL && captured_count == 1 &&
              strstr(captured_message, "mdl_plot_line: the plot is NULL"), "NULL plot: %s",
          captured_message);
    capture_errors();
    CHECK(mdl_plot_line(p, "x", -1, xs, xs) == MDL_ERR_ARG && captured_count == 1 &&
              strstr(captured_message, "n = -1"), "n < 0: %s", captured_message);
    capture_errors();
    CHECK(mdl_plot_scatter(p, "x", 2, NULL, xs) == MDL_ERR_NULL &&
              strstr(captured_message, "mdl_plot_scatter: x is NULL"), "%s", captured_message);
    capture_errors();
    CHECK(mdl_plot_scatter_classes(p, mdl_zeros(ar, 2, s33), NULL, 0, NULL) == MDL_ERR_SHAPE &&
              strstr(captured_message, "xy [3,3]: the points must be [N,2]"), "%s",
          captured_message);
    capture_errors();
    {
        int s32[2] = {3, 2};
        CHECK(mdl_plot_scatter_classes(p, mdl_zeros(ar, 2, s32), mdl_from_array(ar, 1, s3, lab),
                                       3, NULL) == MDL_ERR_ARG &&
                  strstr(captured_message, "labels [3]: element [1] is 5, outside 0..2"), "%s",
              captured_message);
    }
    capture_errors();
    CHECK(mdl_plot_regions(p, mdl_zeros(ar, 2, s33), 1, 1, 0, 1) == MDL_ERR_ARG &&
              strstr(captured_message, "mdl_plot_regions: x from 1 to 1"), "%s",
          captured_message);
    capture_errors();
    CHECK(mdl_plot_images(p, mdl_zeros(ar, 4, s4), 0, 0, 1, NULL) == MDL_ERR_SHAPE &&
              strstr(captured_message, "images [2,3,4,5]"), "%s", captured_message);
    capture_errors();
    CHECK(mdl_plot_heatmap(p, mdl_zeros(ar, 1, s3), NULL, NULL, 0) == MDL_ERR_SHAPE &&
              strstr(captured_message, "values [3]"), "%s", captured_message);
    capture_errors();
    CHECK(mdl_plot_grid_points(ar, 0, 3, 0, 1, 0, 1) == NULL && captured_code == MDL_ERR_SIZE,
          "grid of 0 rows: %s", captured_message);
    /* none of those added anything: the panel is still empty axes */
    render(p);
    check_svg("after errors");
    CHECK(count("circle", NULL) == 0 && count("path", "line") == 0 && count("g", "image") == 0,
          "nothing added");
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_plot_free(p);
}

static void test_files(void) {
    /* saving: the file holds what mdl_plot_write writes; a path that cannot be opened, or a
       device that cannot be written, is an MDL_ERR_IO return naming the file, never a call
       of the error handler */
    const char *path = "build/test_plot.svg", *bad = "build/no-such-folder/plot.svg";
    double x[3] = {1, 2, 3};
    mdl_plot *p = mdl_plot_new("saved");
    FILE *f;
    mdl_plot_line(p, "l", 3, x, x);
    render(p);
    capture_errors();
    CHECK(mdl_plot_save(p, path) == MDL_OK, "save to %s: %s", path, mdl_last_error());
    f = fopen(path, "rb");
    CHECK(f != NULL, "%s written", path);
    if (f) {
        char *back = (char *)calloc(svg_len + 2, 1);
        size_t n = back ? fread(back, 1, svg_len + 1, f) : 0;
        CHECK(back && n == svg_len && memcmp(back, svg, svg_len) == 0, "the file is the SVG");
        free(back);
        fclose(f);
        remove(path);
    }
    CHECK(mdl_plot_save(p, bad) == MDL_ERR_IO && mdl_last_error_code() == MDL_ERR_IO &&
              strstr(mdl_last_error(), "mdl_plot_save: cannot open "
                                       "build/no-such-folder/plot.svg for writing"),
          "no such folder: %s", mdl_last_error());
    f = fopen("/dev/full", "wb");
    if (f) { /* Linux: opens, but every write fails */
        fclose(f);
        CHECK(mdl_plot_save(p, "/dev/full") == MDL_ERR_IO &&
                  strstr(mdl_last_error(), "writing /dev/full failed"), "/dev/full: %s",
              mdl_last_error());
    }
    CHECK(captured_count == 0, "the handler was not called: %s", captured_message);
    mdl_set_error_handler(NULL, NULL);
    mdl_clear_error();
    mdl_plot_free(p);
}

int main(void) {
    ar = mdl_arena_new(0);
    test_two_lines();
    test_ticks();
    test_non_finite();
    test_scatter_classes();
    test_regions();
    test_heatmap();
    test_images();
    test_panels_and_size();
    test_errors();
    test_files();
    free(svg);
    mdl_arena_free(ar);
    return test_summary();
}
