// games.h: the two games of the MER paper's reinforcement-learning half (issue 25), Catcher and
// Flappy Bird, written from the rules of the PyGame Learning Environment (PLE) versions: no
// pixels, no pygame, PLE's non-visual state vector as the observation. A game is frame-
// deterministic given its seed: every random draw (pellet spawn, pipe heights, the bird's start
// height) comes from the game's own Rng.
//
// Not PLE's code: positions are real numbers (PLE truncates them to pygame's integer rects each
// frame), one frame is one step (PLE's 30 frames per second, so its per-millisecond speeds are
// multiplied by 1000/30), and collisions are plain rectangle overlaps. experiments/mer/README.md
// lists every rule and constant beside PLE's.
//
// Rewards (PLE's table): Catcher +1 per pellet caught, -1 per pellet missed; Flappy Bird +1 per
// pipe passed; both -5 when the game is lost. score() is the game's score without that penalty
// (catches minus misses; pipes passed).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/random.h"

namespace awd {

enum class GameKind { Catcher, Flappy };
GameKind parse_game(const std::string& name);  // catcher | flappy
const char* game_name(GameKind kind);

struct StepResult {
    double reward = 0;
    bool over = false;
};

class Game {
public:
    virtual ~Game() = default;
    virtual int actions() const = 0;
    virtual int observations() const = 0;
    // A new episode; the game's random draws continue from its Rng.
    virtual void reset() = 0;
    virtual StepResult step(int action) = 0;
    // The state vector, scaled to order one (positions / screen size, velocities / their scale).
    virtual void observe(double* out) const = 0;
    double score() const { return score_; }

protected:
    double score_ = 0;
};

// ---- Catcher ------------------------------------------------------------------------------
// A 64 x 64 screen (y grows downwards). The paddle (13 x 3, its top at y = 64 - 3 - 3) moves
// with velocity v: each frame v += impulse (-1.344 left, +1.344 right, 0 stay), v *= 0.9,
// x += v, stopped (v = 0) at the walls; x is its left edge, in [0, 64 - 13]. The pellet (4 x 4,
// x its left edge, y its top) falls `fall_speed` pixels a frame. Each frame: the paddle moves,
// the pellet falls; the pellet is caught (+1) when the two rectangles overlap, missed (-1, one
// life lost) when its top reaches y >= 64; either way a new pellet spawns at
// x in {8, 12, ..., 52}, y in {-4, -8, ..., -28} (uniform). Three lives.
// Actions: 0 left, 1 right, 2 stay. Observation (PLE's): paddle x, paddle v, pellet x, pellet y.
struct CatcherRules {
    double width = 64, height = 64, pellet = 4, paddle_width = 13, paddle_height = 3;
    double impulse = 0.021 * 64, friction = 0.9;
    double fall_speed = 0.00095 * 64 * 1000.0 / 30.0;  // PLE's 0.00095 height per ms at 30 frames/s: 2.027 px/frame
    int lives = 3;
};

class Catcher : public Game {
public:
    Catcher(const CatcherRules& rules, uint64_t seed);
    int actions() const override { return 3; }
    int observations() const override { return 4; }
    void reset() override;
    StepResult step(int action) override;
    void observe(double* out) const override;
    void spawn_pellet();
    const CatcherRules rules;
    double paddle_x = 0, paddle_v = 0, pellet_x = 0, pellet_y = 0;
    int lives = 0;

private:
    Rng rng_;
};

// ---- Flappy Bird --------------------------------------------------------------------------
// A 288 x 512 screen, the ground at y = 0.79 x 512 = 404.48. The bird (34 x 24, centre
// x = 57, y) starts at y = 256 + 8 sin(pi u), u uniform, at rest. Each frame: a flap sets
// v = -9; otherwise v += 1 while v < 10; y += v. Pipes (52 wide, centre x) move 4 pixels a frame
// left, 144 apart, the first at x = 288 + 52; each has a gap [top, top + gap] with top a uniform
// integer in [gap / 4, 0.79 x 512 x 0.6 - gap / 2]; a pipe that leaves the screen (x < -52)
// reappears 144 behind the last one with a new top. A pipe is passed (+1, once) in the frame
// its right edge goes left of the bird's centre. The game is lost when the bird's box overlaps
// a pipe outside its gap, touches the ground (y + 12 >= 404.48) or leaves the top (y <= 0).
// Actions: 0 flap, 1 nothing. Observation (PLE's): bird y, bird v, then for the next two pipes
// (the first two whose right edge is not yet left of the bird's left edge) the distance of
// their centre from the bird, their gap's top and bottom.
struct FlappyRules {
    double width = 288, height = 512, ground = 0.79 * 512, gap = 100;
    double pipe_width = 52, pipe_speed = 4, pipe_spacing = 144;
    double bird_x = 57, bird_half_width = 17, bird_half_height = 12;
    double gravity = 1, flap = 9, max_drop = 10;
};

class Flappy : public Game {
public:
    Flappy(const FlappyRules& rules, uint64_t seed);
    int actions() const override { return 2; }
    int observations() const override { return 8; }
    void reset() override;
    StepResult step(int action) override;
    void observe(double* out) const override;
    const FlappyRules rules;
    double bird_y = 0, bird_v = 0;
    struct Pipe {
        double x = 0, top = 0;
        bool passed = false;
    };
    std::vector<Pipe> pipes;  // three, in no particular order

private:
    double draw_top();
    Rng rng_;
};

// ---- the non-stationary schedule ----------------------------------------------------------
// Version v = 0 .. versions-1 of a game: Catcher's pellet falls at base + v x step pixels a
// frame; Flappy Bird's gap is base + v x step pixels (step < 0: the gap shrinks).
struct GameSchedule {
    GameKind kind = GameKind::Catcher;
    int versions = 6;
    double base = 0, step = 0;
    double parameter(int version) const { return base + step * version; }
};
GameSchedule default_schedule(GameKind kind);  // the README's choices
std::unique_ptr<Game> make_game(const GameSchedule& schedule, int version, uint64_t seed);

}  // namespace awd
